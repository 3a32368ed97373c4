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
    /// Sends a create `request`; `decode` reads a 2xx answer (or a status the request is
    /// [`answered_by`](Request::answered_by)); `refused` says what a refusal
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
        self.settled(op, request, decode, refused, lookup, None, lost_create)
            .await
    }

    /// Sends an action whose answer's body is not needed (a retry of failed jobs): any 2xx,
    /// even one over the body cap, is done; `refused` says what a refusal means; an outcome
    /// that is unknown is settled by `took_effect` (a read of what the action changes), and
    /// the action is sent again only when that says it did not take.
    ///
    /// # Errors
    ///
    /// As [`HttpClient::create`].
    pub async fn act<R, L, LFut>(
        &self,
        op: &Operation,
        request: &Request<'_>,
        refused: R,
        took_effect: L,
    ) -> Result<()>
    where
        R: Fn(&Reply) -> Error,
        L: Fn() -> LFut,
        LFut: Future<Output = Result<bool>>,
    {
        let lookup = || async { Ok(took_effect().await?.then_some(())) };
        let done = || Ok(());
        let settled = self.settled(
            op,
            request,
            |_| Ok(()),
            refused,
            Some(lookup),
            Some(&done),
            lost_action,
        );
        settled.await
    }

    /// [`create`](HttpClient::create), and with `oversized_success`, what an answer of 2xx
    /// over the body cap is; `lost` says what to do when the look-up fails too.
    #[allow(clippy::too_many_arguments)] // the one private function both entry points share
    async fn settled<T, D, R, L, LFut>(
        &self,
        op: &Operation,
        request: &Request<'_>,
        decode: D,
        refused: R,
        lookup: Option<L>,
        oversized_success: Option<&(dyn Fn() -> Result<T> + Sync)>,
        lost: fn(&Error, &Error) -> String,
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
                        let verdict = settle_by_lookup(lookup().await, error, lost);
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
                Ok(reply) if reply.is_sign_in_page() => Verdict::Done(Err(reply.error(op))),
                Ok(reply) if request.is_answer(reply.status) => match decode(&reply) {
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
                // A success whose answer is over the cap took effect; an action needs no body.
                Err(e @ SendError::TooLarge { status, .. }) if status.is_success() => {
                    match oversized_success {
                        Some(success) => Verdict::Done(success()),
                        None => settle(self.error(e, op)).await,
                    }
                }
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

fn settle_by_lookup<T>(
    found: Result<Option<T>>,
    error: Error,
    lost: fn(&Error, &Error) -> String,
) -> Verdict<T> {
    match found {
        Ok(Some(created)) => Verdict::Done(Ok(created)),
        Ok(None) => Verdict::Retry { error, wait: None },
        Err(lookup) => Verdict::Done(Err(Error::Unavailable {
            message: lost(&error, &lookup),
            source: None,
        })),
    }
}

/// A create whose answer was lost and whose look-up failed.
fn lost_create(error: &Error, lookup: &Error) -> String {
    format!(
        "{error}; looking it up by its idempotency key failed too ({lookup}); \
         trigger again with the same key to find or create it"
    )
}

/// An action whose answer was lost and whose read of what it changes failed.
fn lost_action(error: &Error, lookup: &Error) -> String {
    format!(
        "{error}; reading whether it took effect failed too ({lookup}); read the build \
         before asking again"
    )
}
