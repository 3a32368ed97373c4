//! A secret that never prints: API tokens, private keys, webhook secrets.

use std::fmt;

use buildrunner_api::{Error, Result};

/// A secret read from configuration. `Debug` and `Display` print it redacted, so it cannot
/// reach a log, an error message or a panic by accident.
///
/// ```
/// use buildrunner_http::Token;
///
/// let token = Token::new("ghp_secret")?;
/// assert_eq!(format!("{token:?} {token}"), "Token(<redacted>) <redacted>");
/// # Ok::<(), buildrunner_api::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a single-line token such as an API token.
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`] for an empty or blank token, or one with characters that
    /// cannot be sent in an HTTP header (spaces and control characters included).
    pub fn new(token: impl Into<String>) -> Result<Self> {
        let token = token.into();
        if token.trim().is_empty() {
            return Err(configuration("the token is empty"));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(configuration(
                "the token has characters a token cannot have",
            ));
        }
        Ok(Token(token))
    }

    /// Wraps a multi-line secret such as a PEM private key: anything but blank text.
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`] when the text is empty or blank.
    pub fn multiline(secret: impl Into<String>) -> Result<Self> {
        let secret = secret.into();
        if secret.trim().is_empty() {
            return Err(configuration("the secret is empty"));
        }
        Ok(Token(secret))
    }

    /// Reads a token from an environment variable; `what` names it in errors
    /// (`"the Buildkite API token"`).
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`] naming the variable (never its value) when it is unset,
    /// empty or not a valid token.
    pub fn from_env(var: &str, what: &str) -> Result<Self> {
        Self::read_env(var, what, Token::new)
    }

    /// Reads a multi-line secret (a PEM key) from an environment variable.
    ///
    /// # Errors
    ///
    /// As [`Token::from_env`].
    pub fn multiline_from_env(var: &str, what: &str) -> Result<Self> {
        Self::read_env(var, what, Token::multiline)
    }

    fn read_env(var: &str, what: &str, wrap: fn(String) -> Result<Token>) -> Result<Self> {
        if var.is_empty() {
            return Err(configuration(format!(
                "no environment variable is named for {what}"
            )));
        }
        let value = std::env::var(var).map_err(|_| {
            configuration(format!("environment variable {var} ({what}) is not set"))
        })?;
        wrap(value).map_err(|_| {
            configuration(format!(
                "environment variable {var} ({what}) is empty or invalid"
            ))
        })
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A stable hash of the secret (FNV-1a), to tell tokens apart without keeping them.
    pub fn fingerprint(&self) -> u64 {
        self.0.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }
}

fn configuration(message: impl Into<String>) -> Error {
    Error::Configuration {
        message: message.into(),
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_print_and_bad_ones_are_refused() {
        let token = Token::new("bkua_secret123").unwrap();
        assert!(!format!("{token:?} {token}").contains("secret"));
        assert!(Token::new("  ").is_err());
        assert!(Token::new("a\nb").is_err());
        assert!(Token::multiline("-----BEGIN KEY-----\nabc\n").is_ok());
        assert!(Token::multiline(" \n").is_err());
        assert_ne!(
            Token::new("a").unwrap().fingerprint(),
            Token::new("b").unwrap().fingerprint()
        );
    }

    #[test]
    fn env_errors_name_the_variable_not_the_value() {
        let error = Token::from_env("BUILDRUNNER_HTTP_TEST_SURELY_UNSET", "the test token")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("BUILDRUNNER_HTTP_TEST_SURELY_UNSET") && error.contains("test token"),
            "{error}"
        );
        assert!(Token::from_env("", "x").is_err());
    }
}
