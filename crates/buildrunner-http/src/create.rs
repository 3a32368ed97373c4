//! Creating something whose outcome may be unknown, without ever creating it twice blindly.
//!
//! A create that may have reached the server (a timeout, a 5xx, a dropped connection, an
//! answer that cannot be read) is settled by looking it up by a key stamped into it; only
//! when the look-up finds nothing is it sent again. Without a key such a create is reported,
//! never repeated. A refusal before anything was created (a rate limit, a failed connect) is
//! retried like any other request.

use std::future::Future;

use buildrunner_api::{Error, Result};

use crate::{HttpClient, Operation, Reply, Request, SendError, Verdict};

impl HttpClient {
    /// Sends a create `request`; `decode` reads a 2xx answer; `refused` says what a refusal
    /// (a 4xx other than a rate limit) means; `lookup`, when the create is keyed, finds what
    /// an earlier attempt created.
    ///
    /// # Errors
    ///
    /// The platform's refusal as `refused` maps it; [`Error::Unavailable`] when the outcome
    /// stays unknown; the transport errors after retries.
    pub async fn create<T, D, R, L, LFut>(
        &self,
        op: &Operation,
        request: &Request<'_>,
        decode: D,
        refused: R,
        lookup: Option<L>,
    ) -> Result<T>
    where
        D: Fn(&Reply) -> Result<T>,
        R: Fn(&Reply) -> Error,
        L: Fn() -> LFut,
        LFut: Future<Output = Result<Option<T>>>,
    {
        let (decode, refused, lookup) = (&decode, &refused, &lookup);
        self.retrying(op, |deadline| async move {
            let settle = |error: Error| async move {
                match lookup {
                    Some(lookup) => {
                        let verdict = settle_by_lookup(lookup().await, error);
                        self.labels().ambiguous_create(match &verdict {
                            Verdict::Done(Ok(_)) => "found",
                            Verdict::Retry { .. } => "not_found",
                            Verdict::Done(Err(_)) => "lookup_failed",
                        });
                        verdict
                    }
                    None => {
                        self.labels().ambiguous_create("unkeyed");
                        Verdict::Done(Err(Error::Unavailable {
                        message: format!(
                            "{error}; it may or may not have been created, and a create without \
                             an idempotency key is not retried blindly (give one to make it safe to retry)"
                        ),
                        source: None,
                    }))
                    }
                }
            };
            match self.send(op, request, deadline).await {
                Ok(reply) if reply.status.is_success() => match decode(&reply) {
                    Ok(created) => Verdict::Done(Ok(created)),
                    Err(error) => settle(error).await,
                },
                // A rate limit refuses the request before anything is created.
                Ok(reply) if reply.is_rate_limited() => Verdict::Retry {
                    error: reply.error(op),
                    wait: reply.rate_limit_wait(),
                },
                Ok(reply) if reply.is_transient() => settle(reply.error(op)).await,
                Ok(reply) => Verdict::Done(Err(refused(&reply))),
                Err(e @ SendError::Connect(_)) => Verdict::Retry {
                    error: self.error(e, op),
                    wait: None,
                },
                Err(e) if e.nothing_sent() => Verdict::Done(Err(self.error(e, op))),
                Err(e @ SendError::TooLarge { status, .. }) if !status.is_success() => {
                    Verdict::Done(Err(self.error(e, op)))
                }
                Err(e) => settle(self.error(e, op)).await,
            }
        })
        .await
    }
}

fn settle_by_lookup<T>(found: Result<Option<T>>, error: Error) -> Verdict<T> {
    match found {
        Ok(Some(created)) => Verdict::Done(Ok(created)),
        Ok(None) => Verdict::Retry { error, wait: None },
        Err(lookup) => Verdict::Done(Err(Error::Unavailable {
            message: format!(
                "{error}; looking it up by its idempotency key failed too ({lookup}); \
                 trigger again with the same key to find or create it"
            ),
            source: None,
        })),
    }
}
