//! `buildrunner`: trigger, follow and cancel CI builds on any configured backend.
//!
//! The program is [`buildrunner_cli::run`]; this binary adds the backends it offers. See
//! `buildrunner --help` and `docs/cli.md`.

use std::process::ExitCode;

// The linker drops the registrations of a crate nothing names, so every backend is named
// here, once.
use buildrunner_azure_pipelines as _;
use buildrunner_buildkite as _;
use buildrunner_github_actions as _;
use buildrunner_gitlab as _;
use buildrunner_jenkins as _;
use buildrunner_noop as _;

fn main() -> ExitCode {
    buildrunner_cli::run()
}

#[cfg(test)]
mod tests {
    /// The names `buildrunner backends` must list; keeps the lines above in step.
    const EXPECTED: &[&str] = &[
        "azure-pipelines",
        "buildkite",
        "github-actions",
        "gitlab",
        "jenkins",
        "noop",
    ];

    #[test]
    fn every_linked_backend_is_registered() {
        let names: Vec<_> = buildrunner_api::registry::backends()
            .unwrap()
            .iter()
            .map(|b| b.name)
            .collect();
        assert_eq!(names, EXPECTED);
    }
}
