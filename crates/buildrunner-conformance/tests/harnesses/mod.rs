//! Each backend's conformance harnesses: against its in-process emulator for the suite and the
//! fault matrix, and against the live API with `--live`. They live here, with the suite, so
//! the backend crates carry no emulator and no suite and can be published on their own.

mod buildkite;
mod github_actions;
mod gitlab;
mod noop;
