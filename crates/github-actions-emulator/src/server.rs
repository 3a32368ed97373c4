//! GitHub's routes, App JWT verification, and what the shared gate needs to know of
//! GitHub's wire format (credentials, `x-ratelimit-*` headers, error bodies).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State as Shared};
use axum::http::{HeaderMap, header};
use axum::routing::{get, post};
use buildrunner_emulator_engine::{Answer, Engine, Platform, Query, RateVerdict, WindowCount};

use crate::state::{State, error};

type App = Arc<State>;

pub(crate) fn routes(state: App) -> Router {
    Router::new()
        .route(
            "/repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches",
            post(dispatch),
        )
        .route(
            "/repos/{owner}/{repo}/actions/workflows/{workflow}/runs",
            get(list),
        )
        .route("/repos/{owner}/{repo}/actions/runs/{id}", get(run))
        .route(
            "/repos/{owner}/{repo}/actions/runs/{id}/cancel",
            post(cancel),
        )
        .route(
            "/repos/{owner}/{repo}/actions/runs/{id}/force-cancel",
            post(force_cancel),
        )
        .route("/repos/{owner}/{repo}/actions/runs/{id}/rerun", post(rerun))
        .route(
            "/repos/{owner}/{repo}/actions/runs/{id}/rerun-failed-jobs",
            post(rerun_failed_jobs),
        )
        .route("/repos/{owner}/{repo}/actions/runs/{id}/jobs", get(jobs))
        .route(
            "/app/installations/{installation}/access_tokens",
            post(access_token),
        )
        .with_state(state)
}

/// The credential of a request: `Bearer <t>` or the older `token <t>`.
fn credential(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("token "))
}

#[derive(serde::Deserialize)]
struct AppClaims {
    iat: u64,
    exp: u64,
}

impl State {
    /// Checks an App JWT: RS256 with the App's key, `iss` the App id, at most ten minutes long.
    fn verify_app_jwt(&self, headers: &HeaderMap) -> Result<(), &'static str> {
        let app = self
            .common
            .config
            .platform
            .app
            .as_ref()
            .ok_or("this emulator has no GitHub App")?;
        let jwt = credential(headers).ok_or("A JSON web token could not be decoded")?;
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(app.public_key_pem.as_bytes())
            .map_err(|_| "the emulator's App public key is not a PEM RSA key")?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_issuer(&[app.app_id.to_string()]);
        validation.set_required_spec_claims(&["exp", "iat", "iss"]);
        let claims = jsonwebtoken::decode::<AppClaims>(jwt, &key, &validation)
            .map_err(|_| "A JSON web token could not be decoded")?
            .claims;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        if claims.exp.saturating_sub(claims.iat) > 600 || claims.iat > now + 60 {
            return Err("'Expiration time' claim ('exp') is too far in the future");
        }
        Ok(())
    }
}

impl Platform for State {
    fn engine(&self) -> &Engine {
        &self.common.engine
    }

    fn authenticate(&self, headers: &HeaderMap, path: &str) -> Option<Answer> {
        if path.starts_with("/app/") {
            return self
                .verify_app_jwt(headers)
                .err()
                .map(|why| error(401, why));
        }
        let valid = credential(headers).is_some_and(|token| self.token_is_valid(token));
        (!valid).then(|| error(401, "Bad credentials"))
    }

    fn rate_limit(&self, headers: &HeaderMap, method: &str, path: &str) -> RateVerdict {
        let key = credential(headers).unwrap_or("").to_owned();
        if method == "POST"
            && path.ends_with("/dispatches")
            && let Some(refused) = self.secondary_limit(&key)
        {
            return RateVerdict {
                headers: Vec::new(),
                exceeded: Some(refused),
            };
        }
        if method == "GET"
            && let Some(tag) = headers
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
            && let ["", "repos", owner, repo, "actions", "runs", id] =
                path.split('/').collect::<Vec<_>>()[..]
            && self.not_modified(owner, repo, id, tag)
        {
            // A 304 does not count against the primary limit; it reports it all the same.
            let Some(count) = self.common.engine.peek_requests(&key) else {
                return RateVerdict::default();
            };
            return RateVerdict {
                headers: rate_headers(&count),
                exceeded: None,
            };
        }
        let Some(count) = self.common.engine.count_request(&key) else {
            return RateVerdict::default();
        };
        let headers = rate_headers(&count);
        let exceeded = count.exceeded.then(|| {
            let mut answer = error(403, "API rate limit exceeded for this token.");
            answer.headers = headers.clone();
            answer
        });
        RateVerdict { headers, exceeded }
    }

    fn rate_limited_fault(&self, reset_secs: u64) -> Answer {
        let reset_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            + reset_secs;
        error(429, "API rate limit exceeded for this token.")
            .with_header("x-ratelimit-limit", "5000")
            .with_header("x-ratelimit-remaining", "0")
            .with_header("x-ratelimit-used", "5000")
            .with_header("x-ratelimit-reset", reset_epoch.to_string())
            .with_header("x-ratelimit-resource", "core")
    }

    fn error(&self, status: u16, message: &str) -> Answer {
        error(status, message)
    }
}

/// GitHub's `x-ratelimit-*` headers for a window, the reset as epoch seconds.
fn rate_headers(count: &WindowCount) -> Vec<(&'static str, String)> {
    let reset_epoch = count.reset_epoch_secs();
    vec![
        ("x-ratelimit-limit", count.limit.to_string()),
        ("x-ratelimit-remaining", count.remaining.to_string()),
        ("x-ratelimit-used", count.used.min(count.limit).to_string()),
        ("x-ratelimit-reset", reset_epoch.to_string()),
        ("x-ratelimit-resource", "core".to_owned()),
    ]
}

async fn dispatch(
    Shared(state): Shared<App>,
    Path((owner, repo, workflow)): Path<(String, String, String)>,
    body: Bytes,
) -> Answer {
    state.dispatch(&owner, &repo, &workflow, &body)
}

async fn list(
    Shared(state): Shared<App>,
    Path((owner, repo, workflow)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Answer {
    let path = format!("/repos/{owner}/{repo}/actions/workflows/{workflow}/runs");
    state.list(
        &owner,
        &repo,
        &workflow,
        &Query::parse(query.as_deref()),
        &path,
    )
}

async fn run(
    Shared(state): Shared<App>,
    Path((owner, repo, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Answer {
    let tag = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    state.get(&owner, &repo, &id, tag)
}

async fn cancel(
    Shared(state): Shared<App>,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Answer {
    state.cancel(&owner, &repo, &id, false)
}

async fn force_cancel(
    Shared(state): Shared<App>,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Answer {
    state.cancel(&owner, &repo, &id, true)
}

async fn rerun(
    Shared(state): Shared<App>,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Answer {
    state.rerun(&owner, &repo, &id)
}

async fn rerun_failed_jobs(
    Shared(state): Shared<App>,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Answer {
    state.rerun_failed_jobs(&owner, &repo, &id)
}

async fn jobs(
    Shared(state): Shared<App>,
    Path((owner, repo, id)): Path<(String, String, String)>,
) -> Answer {
    state.jobs(&owner, &repo, &id)
}

async fn access_token(Shared(state): Shared<App>, Path(installation): Path<String>) -> Answer {
    match &state.common.config.platform.app {
        Some(app) if installation == app.installation_id.to_string() => {
            state.issue_token(app.installation_id, app.token_ttl)
        }
        _ => error(404, "Not Found"),
    }
}
