//! HTTP Basic credentials, for platforms that take a token as the password (Jenkins' API
//! tokens, Azure DevOps' personal access tokens) and senders that authenticate their
//! webhooks with the target's user info (Jenkins' Notification plugin, Azure service hooks).

use axum::http::{HeaderMap, header};
use base64::Engine as _;

/// The password of a request's `Authorization: Basic`, whatever the user; `None` without a
/// well-formed one.
pub fn basic_password(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    Some(text.split_once(':')?.1.to_owned())
}

/// The `Authorization` value for `user` and `password`: `Basic base64(user:password)`.
///
/// ```
/// assert_eq!(buildrunner_emulator_engine::basic_authorization("", "s"), "Basic OnM=");
/// ```
pub fn basic_authorization(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}
