//! API root URLs: `https://`, or plain `http://` only on loopback, where a token cannot be
//! read on the wire.

use std::net::IpAddr;

use buildrunner_api::{Error, Result};
use url::Url;

/// Parses an `api_url` option.
///
/// ```
/// use buildrunner_http::parse_api_url;
///
/// assert!(parse_api_url("https://api.github.com").is_ok());
/// assert!(parse_api_url("http://127.0.0.1:8787").is_ok());
/// assert!(parse_api_url("http://ci.example.com").is_err());
/// ```
///
/// # Errors
///
/// [`Error::Configuration`] unless the URL is `https://`, or `http://` on a loopback host,
/// without credentials, query or fragment.
pub fn parse_api_url(text: &str) -> Result<Url> {
    let bad = |why: &str| Error::Configuration {
        message: format!("api_url {text:?} {why}"),
    };
    let url = Url::parse(text).map_err(|e| bad(&format!("is not a URL: {e}")))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials; use token_env"));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(bad(
            "uses plain http, which is only allowed for loopback hosts (the token would travel in clear)",
        )),
        _ => Err(bad("must be an https:// URL")),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// `base` with `segments` appended to its path, each percent-encoded as one segment, so a
/// base path (`https://ghes.example.com/api/v3`) is kept and no value can add a segment.
///
/// ```
/// let base = url::Url::parse("https://ghes.example.com/api/v3/").unwrap();
/// let url = buildrunner_http::join_path(&base, &["repos", "acme", "a/b"]);
/// assert_eq!(url.as_str(), "https://ghes.example.com/api/v3/repos/acme/a%2Fb");
/// ```
pub fn join_path(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
        for segment in segments {
            // `.` and `..` would be resolved away; sent escaped they can only name nothing.
            match *segment {
                "." => path.push("%2E"),
                ".." => path.push("%2E%2E"),
                other => path.push(other),
            };
        }
    }
    url
}

/// Checks a name that becomes one URL path segment (an organization, pipeline, owner,
/// repository or workflow): letters, digits, `-`, `_` and `.`, at most 255 bytes, and not
/// `.` or `..`. `what` names it in the error.
///
/// # Errors
///
/// [`Error::Configuration`] naming `what` and the value.
pub fn check_path_name(what: &str, name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name != "."
        && name != "..";
    if valid {
        return Ok(());
    }
    Err(Error::Configuration {
        message: format!(
            "{what} {name:?} is not valid (expected letters, digits, '-', '_' or '.')"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_must_be_https_or_loopback_http() {
        for ok in [
            "https://api.buildkite.com",
            "https://proxy.example.com/buildkite/",
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://localhost:3000",
            "http://[::1]:9000",
        ] {
            assert!(parse_api_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.buildkite.com",
            "http://10.0.0.1",
            "ftp://127.0.0.1",
            "not a url",
            "https://api.buildkite.com?x=1",
            "https://user:pw@api.buildkite.com",
        ] {
            assert!(
                matches!(parse_api_url(bad), Err(Error::Configuration { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn path_names_are_checked() {
        for bad in ["", "a/b", "a b", "..", ".", "a?b", "ä", "a%2F"] {
            assert!(check_path_name("repo", bad).is_err(), "{bad:?}");
        }
        assert!(check_path_name("repo", "acme-inc_mono.v2").is_ok());
        assert!(check_path_name("repo", &"a".repeat(256)).is_err());
    }

    #[test]
    fn joined_paths_keep_the_base_and_encode_each_segment() {
        let base = parse_api_url("https://proxy.example.com/bk").unwrap();
        assert_eq!(
            join_path(&base, &["v2", "organizations", "acme"]).as_str(),
            "https://proxy.example.com/bk/v2/organizations/acme"
        );
        let root = parse_api_url("http://127.0.0.1:1").unwrap();
        assert_eq!(
            join_path(&root, &["x", "..", "a?b"]).as_str(),
            "http://127.0.0.1:1/x/%252E%252E/a%3Fb"
        );
    }
}
