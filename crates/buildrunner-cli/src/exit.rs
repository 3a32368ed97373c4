//! Exit codes and the one error type of the program.

use std::process::ExitCode;

use buildrunner_api::{BuildStatus, Error};

/// The exit codes of the CLI contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success; for `watch` and `run`, the build succeeded.
    Success = 0,
    /// The build failed.
    BuildFailed = 1,
    /// Usage or configuration error, including malformed or foreign build ids.
    Usage = 2,
    /// The build was cancelled.
    Cancelled = 3,
    /// The backend failed: not found, authentication, rate limit or transport after retries,
    /// an answer not understood, a refusal.
    Backend = 4,
    /// `watch` or `run` timed out before the build finished.
    TimedOut = 5,
    /// The program itself could not run: its async runtime did not start, or it could not
    /// render what it was asked for (sysexits' `EX_SOFTWARE`). Not the CI's fault.
    Internal = 70,
    /// Interrupted by Ctrl-C (128 + SIGINT).
    Interrupted = 130,
}

impl Exit {
    /// The exit code for a finished build.
    pub fn for_status(status: BuildStatus) -> Exit {
        match status {
            BuildStatus::Succeeded => Exit::Success,
            BuildStatus::Failed => Exit::BuildFailed,
            BuildStatus::Cancelled => Exit::Cancelled,
            // Only terminal statuses end a watch; anything else is a timeout's business.
            BuildStatus::Unknown | BuildStatus::Accepted | BuildStatus::Running => Exit::TimedOut,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

/// An error that ends the program: an exit code and one line for stderr.
#[derive(Debug)]
pub struct CliError {
    /// How the program exits.
    pub exit: Exit,
    /// What went wrong, on one line, without secrets.
    pub message: String,
}

impl CliError {
    /// An error with an exit code and a message.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        CliError {
            exit,
            message: message.into(),
        }
    }
}

impl From<Error> for CliError {
    fn from(error: Error) -> Self {
        let exit = match &error {
            Error::InvalidRequest { .. }
            | Error::InvalidBuildId { .. }
            | Error::Configuration { .. }
            | Error::UnknownBackend { .. }
            | Error::DuplicateBackend { .. } => Exit::Usage,
            _ => Exit::Backend,
        };
        CliError::new(exit, error.to_string().replace('\n', " "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kinds_map_to_the_contract_codes() {
        let usage = [
            Error::InvalidRequest { reason: "r".into() },
            Error::InvalidBuildId {
                id: "i".into(),
                reason: "r".into(),
            },
            Error::Configuration {
                message: "m".into(),
            },
            Error::UnknownBackend {
                name: "n".into(),
                available: vec![],
                closest: None,
            },
        ];
        for error in usage {
            assert_eq!(CliError::from(error).exit, Exit::Usage);
        }
        let backend = [
            Error::NotFound { id: "i".into() },
            Error::Unauthenticated {
                message: "m".into(),
            },
            Error::RateLimited {
                retry_after: None,
                message: "m".into(),
            },
            Error::Unavailable {
                message: "m".into(),
                source: None,
            },
            Error::Protocol {
                message: "m".into(),
                source: None,
            },
            Error::Rejected {
                message: "m".into(),
            },
        ];
        for error in backend {
            assert_eq!(CliError::from(error).exit, Exit::Backend);
        }
        assert_eq!(Exit::for_status(BuildStatus::Succeeded) as u8, 0);
        assert_eq!(Exit::for_status(BuildStatus::Failed) as u8, 1);
        assert_eq!(Exit::for_status(BuildStatus::Cancelled) as u8, 3);
    }
}
