//! `buildrunner` with the Woodpecker backend: the whole program is `buildrunner_cli::run()`;
//! the `use` line links the backend so its registration is kept.

use std::process::ExitCode;

use buildrunner_woodpecker as _;

fn main() -> ExitCode {
    buildrunner_cli::run()
}
