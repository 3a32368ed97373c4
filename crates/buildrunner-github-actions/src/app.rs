//! GitHub App authentication: a JWT signed with the App's key (RS256, `iss` = the App id,
//! `iat` a minute in the past, `exp` nine minutes ahead) is exchanged for an installation
//! token at `POST /app/installations/{id}/access_tokens`.

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use buildrunner_api::{Error, Result};
use buildrunner_http::{
    HttpClient, Method, MintedToken, Operation, Request, Token, TokenMinter, Url,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

/// Mints installation tokens for one App installation.
pub(crate) struct AppTokenMinter {
    app_id: u64,
    installation_id: u64,
    key: EncodingKey,
    exchange_url: Url,
}

impl fmt::Debug for AppTokenMinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppTokenMinter")
            .field("app_id", &self.app_id)
            .field("installation_id", &self.installation_id)
            .field("key", &"<redacted>")
            .finish()
    }
}

#[derive(Serialize)]
struct Claims {
    iat: u64,
    exp: u64,
    iss: String,
}

#[derive(Deserialize)]
struct AccessToken {
    token: String,
    expires_at: String,
}

impl AppTokenMinter {
    /// A minter for `installation_id` of App `app_id`.
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`] when the private key is not an RSA key in PEM.
    pub fn new(
        api_url: &Url,
        app_id: u64,
        installation_id: u64,
        private_key: &Token,
    ) -> Result<Self> {
        let key = EncodingKey::from_rsa_pem(private_key.expose().as_bytes()).map_err(|_| {
            Error::Configuration {
                message: "the GitHub App private key is not an RSA private key in PEM".to_owned(),
            }
        })?;
        let installation = installation_id.to_string();
        Ok(AppTokenMinter {
            app_id,
            installation_id,
            key,
            exchange_url: buildrunner_http::join_path(
                api_url,
                &["app", "installations", &installation, "access_tokens"],
            ),
        })
    }

    /// The App's JWT, valid for nine minutes from a minute ago (GitHub allows ten, and
    /// clocks drift).
    fn jwt(&self) -> Result<Token> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = Claims {
            iat: now.saturating_sub(60),
            exp: now + 540,
            iss: self.app_id.to_string(),
        };
        let jwt = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(|e| Error::Configuration {
                message: format!("could not sign the GitHub App JWT: {e}"),
            })?;
        Token::new(jwt)
    }
}

#[async_trait]
impl TokenMinter for AppTokenMinter {
    async fn mint(&self, http: &HttpClient) -> Result<MintedToken> {
        let op = Operation::new(
            "installation token",
            format!("app {} installation {}", self.app_id, self.installation_id),
        );
        let request = Request::new(Method::POST, self.exchange_url.clone()).bearer(&self.jwt()?)?;
        // Minting a second token is harmless, so the exchange is retried like a read.
        let answer: AccessToken = http.fetch(&op, &request).await?;
        let expires = humantime::parse_rfc3339_weak(&answer.expires_at).map_err(|e| {
            op.protocol(
                format_args!("expires_at {:?} is not a time: {e}", answer.expires_at),
                None,
            )
        })?;
        let lifetime = expires
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        Ok(MintedToken {
            token: Token::new(answer.token)
                .map_err(|_| op.protocol("the installation token is empty or malformed", None))?,
            expires_at: Instant::now() + lifetime,
        })
    }
}
