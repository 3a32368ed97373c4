//! How a request proves who sends it: a static header (bearer, or a named header such as
//! GitLab's `PRIVATE-TOKEN`), or a token minted on demand and cached until shortly before
//! it expires (a GitHub App installation token).

use std::fmt::Debug;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use buildrunner_api::{Error, Result};
use reqwest::header::{self, HeaderName, HeaderValue};

use crate::{HttpClient, Token};

/// A token minted by a [`TokenMinter`], and when it stops being valid.
#[derive(Debug, Clone)]
pub struct MintedToken {
    /// The token.
    pub token: Token,
    /// When the platform stops accepting it.
    pub expires_at: Instant,
}

/// Exchanges a long-lived credential for a short-lived token.
#[async_trait]
pub trait TokenMinter: Debug + Send + Sync {
    /// Mints a fresh token. `http` is the client the token is for; send the exchange with
    /// [`Request::bearer`](crate::Request::bearer) so it does not ask for a token itself.
    ///
    /// # Errors
    ///
    /// Whatever the exchange fails with.
    async fn mint(&self, http: &HttpClient) -> Result<MintedToken>;
}

/// How a client authenticates its requests.
#[derive(Debug)]
pub enum Auth {
    /// No credentials (a public API or a test server).
    None,
    /// One header on every request.
    Header(HeaderName, HeaderValue),
    /// A bearer token minted on demand, cached, renewed `renew_early` before it expires and
    /// after the platform answers 401.
    Minted(MintedAuth),
}

impl Auth {
    /// `Authorization: Bearer <token>`.
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`] when the token cannot be sent in a header.
    pub fn bearer(token: &Token) -> Result<Auth> {
        Ok(Auth::Header(header::AUTHORIZATION, bearer_value(token)?))
    }

    /// `<name>: <token>`, e.g. GitLab's `PRIVATE-TOKEN`.
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`] when the name or token cannot be sent in a header.
    pub fn named_header(name: &str, token: &Token) -> Result<Auth> {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| Error::Configuration {
            message: format!("{name:?} is not a valid HTTP header name"),
        })?;
        Ok(Auth::Header(name, sensitive(token.expose())?))
    }

    /// `Authorization: Basic base64(user:token)` (Jenkins' API tokens, Azure DevOps' personal
    /// access tokens), marked sensitive so it never reaches a log.
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`] when the user contains `:` (Basic auth cannot carry it) or
    /// the value cannot be sent in a header.
    pub fn basic(user: &str, token: &Token) -> Result<Auth> {
        if user.contains(':') {
            return Err(Error::Configuration {
                message: format!("user {user:?} contains ':', which Basic auth cannot carry"),
            });
        }
        use base64::Engine as _;
        let pair = format!("{user}:{}", token.expose());
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        Ok(Auth::Header(
            header::AUTHORIZATION,
            sensitive(&format!("Basic {encoded}"))?,
        ))
    }

    /// A token minted by `minter`, renewed `renew_early` before it expires.
    pub fn minted(minter: impl TokenMinter + 'static, renew_early: Duration) -> Auth {
        Auth::Minted(MintedAuth {
            minter: Box::new(minter),
            renew_early,
            cached: Mutex::new(None),
            minting: tokio::sync::Mutex::new(()),
        })
    }
}

/// `Bearer <token>` as a sensitive header value.
///
/// # Errors
///
/// [`Error::Configuration`] when the token cannot be sent in a header.
pub fn bearer_value(token: &Token) -> Result<HeaderValue> {
    sensitive(&format!("Bearer {}", token.expose()))
}

fn sensitive(text: &str) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_str(text).map_err(|_| Error::Configuration {
        message: "the token cannot be sent in an HTTP header".to_owned(),
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// The cache behind [`Auth::Minted`].
#[derive(Debug)]
pub struct MintedAuth {
    minter: Box<dyn TokenMinter>,
    renew_early: Duration,
    cached: Mutex<Option<(HeaderValue, Instant)>>,
    /// Held while minting, so concurrent calls wait for one exchange instead of each making one.
    minting: tokio::sync::Mutex<()>,
}

impl MintedAuth {
    fn fresh(&self) -> Option<HeaderValue> {
        let cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        let (value, expires_at) = cached.as_ref()?;
        (Instant::now() + self.renew_early < *expires_at).then(|| value.clone())
    }

    /// The header value to send, minting a token when none is fresh.
    pub(crate) async fn header(&self, http: &HttpClient) -> Result<HeaderValue> {
        if let Some(value) = self.fresh() {
            return Ok(value);
        }
        let _minting = self.minting.lock().await;
        if let Some(value) = self.fresh() {
            return Ok(value);
        }
        let minted = self.minter.mint(http).await?;
        let value = bearer_value(&minted.token)?;
        *self.cached.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((value.clone(), minted.expires_at));
        tracing::debug!(
            expires_in_secs = minted
                .expires_at
                .saturating_duration_since(Instant::now())
                .as_secs(),
            "minted a new access token"
        );
        Ok(value)
    }

    /// Forgets `used` after the platform refused it, so the next call mints a new one; a
    /// token another call already replaced is left alone.
    pub(crate) fn refused(&self, used: &HeaderValue) {
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        if cached.as_ref().is_some_and(|(value, _)| value == used) {
            *cached = None;
        }
    }
}
