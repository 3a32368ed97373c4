//! The backends this binary offers. The linker drops the registrations of a crate nothing
//! names, so every backend is named here, once.

use buildrunner_buildkite as _;
use buildrunner_github_actions as _;
use buildrunner_gitlab as _;
use buildrunner_noop as _;

/// The names `buildrunner backends` must list; a test keeps this and the lines above in step.
#[cfg(test)]
pub const EXPECTED: &[&str] = &["buildkite", "github-actions", "gitlab", "noop"];

#[cfg(test)]
mod tests {
    #[test]
    fn every_linked_backend_is_registered() {
        let names: Vec<_> = buildrunner_api::registry::backends()
            .unwrap()
            .iter()
            .map(|b| b.name)
            .collect();
        assert_eq!(names, super::EXPECTED);
    }
}
