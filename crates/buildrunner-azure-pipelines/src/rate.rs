//! Azure DevOps' rate limits: 200 TSTUs per user (and per pipeline) in a sliding 5-minute
//! window. Near the limit Azure first *delays* requests, answering them (200) with
//! `Retry-After`, and only then blocks them (429, "TF400733"). Both waits are honoured: a
//! 2xx's `Retry-After` holds the next requests (the budget's delay), a 429's is the refusal's
//! wait. `X-RateLimit-Remaining` / `X-RateLimit-Reset` (epoch seconds) per
//! `X-RateLimit-Resource` are read when Azure sends them, before delays start.

use buildrunner_http::rate::{DelaysOnSuccess, HeaderScheme, HeaderWindow, ResetClock};

const WINDOW: HeaderWindow = HeaderWindow {
    scope: "global",
    scope_header: Some("x-ratelimit-resource"),
    remaining: "x-ratelimit-remaining",
    reset: "x-ratelimit-reset",
    clock: ResetClock::EpochSeconds,
};

/// See the module docs. Public for fuzzers and tools as [`RATE_SCHEME`](crate::RATE_SCHEME).
pub const AZURE_RATE_SCHEME: DelaysOnSuccess =
    DelaysOnSuccess(HeaderScheme::refusing_with_429(&[WINDOW]));
