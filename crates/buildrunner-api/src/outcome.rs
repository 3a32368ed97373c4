//! Outcome markers: how tests, the noop backend, the Buildkite emulator and live test
//! pipelines agree on how a build should end.
//!
//! A head change URI may carry `buildrunner-outcome=<token>` anywhere in its text, usually
//! as a query parameter (`https://github.com/acme/app/pull/1?buildrunner-outcome=fail`).
//! The first marker in head order decides; base URIs are never read. Without a marker the
//! build succeeds.

use std::fmt;

/// The text that introduces a marker in a URI.
pub const MARKER: &str = "buildrunner-outcome=";

/// How a build asked for by outcome markers ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// No marker: the build succeeds.
    Pass,
    /// `fail`: the build ends `Failed`.
    Fail,
    /// `hang`: the build stays `Running` until cancelled.
    Hang,
    /// `block`: the build waits for a person (Buildkite `passed` + `blocked`, GitHub Actions
    /// `waiting`, GitLab `manual`); it is never `Succeeded`. A cancel ends it, or is refused
    /// with [`Error::Rejected`](crate::Error::Rejected) where the CI refuses it.
    Block,
    /// `flaky`: the build's test job fails on the first attempt, so the build ends `Failed`;
    /// after [`retry_failed`](crate::BuildRunner::retry_failed) the retried job passes and
    /// the build ends `Succeeded` under the same id. Without a retry it is a `fail`.
    Flaky,
    /// `trigger-error`: `trigger` returns an error and creates nothing.
    TriggerError,
    /// `status-error`: `status` returns an error.
    StatusError,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 7] = [
        Outcome::Pass,
        Outcome::Fail,
        Outcome::Hang,
        Outcome::Block,
        Outcome::Flaky,
        Outcome::TriggerError,
        Outcome::StatusError,
    ];

    /// The marker token (`"fail"`, `"hang"`, ...); `"pass"` for the unmarked default.
    pub const fn token(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Hang => "hang",
            Outcome::Block => "block",
            Outcome::Flaky => "flaky",
            Outcome::TriggerError => "trigger-error",
            Outcome::StatusError => "status-error",
        }
    }

    /// The outcome a token names, if any.
    pub fn from_token(token: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.token() == token)
    }

    /// The outcome the head URIs ask for: the first marker wins, no marker means
    /// [`Outcome::Pass`].
    ///
    /// ```
    /// use buildrunner_api::outcome::Outcome;
    ///
    /// let uris = ["https://x/pull/1", "https://x/pull/2?buildrunner-outcome=hang&a=b"];
    /// assert_eq!(Outcome::from_uris(uris), Ok(Outcome::Hang));
    /// assert_eq!(Outcome::from_uris(["https://x/pull/1"]), Ok(Outcome::Pass));
    /// assert!(Outcome::from_uris(["https://x/?buildrunner-outcome=flakey"]).is_err());
    /// ```
    ///
    /// An explicit `pass` token is accepted as the default.
    ///
    /// # Errors
    ///
    /// [`UnknownOutcome`] when the first marker's token is not one of [`Outcome::ALL`], so a typo in
    /// a test never turns into a silent success.
    pub fn from_uris<'a>(
        uris: impl IntoIterator<Item = &'a str>,
    ) -> Result<Outcome, UnknownOutcome> {
        for uri in uris {
            if let Some(start) = uri.find(MARKER) {
                let rest = &uri[start + MARKER.len()..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                    .unwrap_or(rest.len());
                let token = &rest[..end];
                return match Outcome::from_token(token) {
                    Some(outcome) => Ok(outcome),
                    None => Err(UnknownOutcome {
                        token: token.to_owned(),
                    }),
                };
            }
        }
        Ok(Outcome::Pass)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.token())
    }
}

/// A marker whose token is not one of `pass`, `fail`, `hang`, `block`, `trigger-error`,
/// `status-error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown outcome marker token {token:?} (expected pass, fail, hang, block, trigger-error or status-error)"
)]
pub struct UnknownOutcome {
    /// The token as found.
    pub token: String,
}
