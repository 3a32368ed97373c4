//! The checks. Each is a plain async function over a [`Context`]; [`CHECKS`] lists them with
//! what they need.

use std::collections::HashSet;
use std::sync::Arc;

use buildrunner_api::{
    BuildId, BuildRunner, BuildStatus, Change, Error, TriggerRequest, TriggerRequestBuilder,
};

mod retries;
use retries::{
    failed_build_names_a_failed_job, flaky_build_retried_succeeds_under_the_same_id,
    retried_build_is_never_terminal_from_the_old_attempt, retry_of_an_unfailed_build_is_rejected,
};

use crate::{Check, CheckResult, Context, Need};

macro_rules! checks {
    ($($name:ident [$($need:ident),*] $proves:literal;)*) => {
        /// Every check of the suite, in the order the matrix shows them.
        pub const CHECKS: &[Check] = &[$(
            Check {
                name: stringify!($name),
                proves: $proves,
                needs: &[$(Need::$need),*],
                run: |cx| Box::pin($name(cx)),
            },
        )*];
    };
}

checks! {
    distinct_ids_under_concurrent_triggers [] "concurrent triggers each get their own build id";
    status_right_after_trigger_is_known [] "a build is visible, in a known state, as soon as trigger returns";
    default_outcome_succeeds [OutcomeMarkers] "an unmarked build reaches Succeeded, never moving backwards or leaving a terminal state";
    fail_marker_fails [OutcomeMarkers] "a `fail` build reaches Failed, never moving backwards or leaving a terminal state";
    trigger_error_marker_fails_trigger [OutcomeMarkers, ErrorMarkers] "a refused trigger is a Rejected error";
    status_error_marker_fails_status [OutcomeMarkers, ErrorMarkers] "a failing status is a retryable error, not a guess";
    cancel_of_hang_reaches_cancelled [OutcomeMarkers, CancelObservable] "a running build that is cancelled ends Cancelled";
    block_is_never_green_and_cancel_ends_it [OutcomeMarkers, CancelObservable] "a build waiting for a person is never Succeeded; a cancel ends it or is refused as Rejected";
    cancel_of_terminal_build_is_a_no_op [OutcomeMarkers] "cancelling a finished build is Ok and changes nothing";
    unknown_build_is_not_found [] "status and cancel of a well-formed unknown id are NotFound";
    malformed_id_is_invalid [] "malformed and foreign ids are InvalidBuildId";
    fresh_instance_answers_for_minted_ids [StatusSurvivesRestart] "a new runner answers for ids an earlier one minted";
    metadata_round_trips [MetadataRoundTrip] "caller metadata comes back in every report";
    reports_carry_a_url [WebUrl] "reports carry a url a person can open";
    same_idempotency_key_same_build [IdempotentTrigger] "a repeated idempotency key returns the same build";
    concurrent_mixed_operations [] "many triggers, statuses and cancels at once on one shared runner all succeed";
    empty_base_is_accepted [] "a build with no base changes triggers and reports";
    head_of_1000_uris_is_accepted [] "a head of 1,000 changes triggers and reports";
    status_many_agrees_with_status [OutcomeMarkers] "status_many answers for every id, in order, as status does, also for a build waiting for a person";
    failed_build_names_a_failed_job [OutcomeMarkers, JobReports] "a failed build names a failed job, with a url where reports carry urls";
    flaky_build_retried_succeeds_under_the_same_id [OutcomeMarkers, RetryFailed] "retry_failed of a flaky build's failure ends Succeeded under the same id";
    retry_of_an_unfailed_build_is_rejected [OutcomeMarkers, RetryFailed] "retry_failed of a running or succeeded build is Rejected and changes nothing";
    retried_build_is_never_terminal_from_the_old_attempt [OutcomeMarkers, RetryFailed] "right after retry_failed, no read reports the earlier attempt's failure";
}

/// A request as a merge queue makes it: one change queued ahead (base), `uri` under test.
pub(crate) fn head(uri: &str) -> TriggerRequestBuilder {
    TriggerRequest::builder()
        .base(Change::new([unique("base")]))
        .head(Change::new([uri]))
}

pub(crate) fn build(builder: TriggerRequestBuilder) -> Result<TriggerRequest, String> {
    builder
        .build()
        .map_err(|e| format!("the suite made an invalid request: {e}"))
}

pub(crate) fn unique(label: &str) -> String {
    format!(
        "https://example.com/conformance/{label}/{:016x}",
        random_u64()
    )
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
}

pub(crate) fn marked(label: &str, outcome: &str) -> String {
    format!("{}?buildrunner-outcome={outcome}", unique(label))
}

pub(crate) async fn trigger(
    runner: &dyn BuildRunner,
    request: &TriggerRequest,
) -> Result<BuildId, String> {
    runner
        .trigger(request)
        .await
        .map_err(|e| format!("trigger failed: {e}"))
}

fn rank(status: BuildStatus) -> Option<u8> {
    match status {
        BuildStatus::Unknown => None,
        BuildStatus::Accepted => Some(1),
        BuildStatus::Running => Some(2),
        BuildStatus::Succeeded | BuildStatus::Failed | BuildStatus::Cancelled => Some(3),
    }
}

/// Polls until `done` holds, checking that the status never moves backwards and never leaves
/// a terminal state; then polls three more times to see a terminal state stay put.
pub(crate) async fn follow(
    cx: &Context<'_>,
    runner: &dyn BuildRunner,
    id: &BuildId,
    done: impl Fn(BuildStatus) -> bool,
) -> Result<BuildStatus, String> {
    let deadline = tokio::time::Instant::now() + cx.timing.lifecycle_timeout;
    let mut seen: Vec<BuildStatus> = Vec::new();
    loop {
        let status = runner
            .status(id)
            .await
            .map_err(|e| format!("status of {id} failed: {e}"))?
            .status;
        if seen.last() != Some(&status) {
            seen.push(status);
        }
        let highest = seen.iter().filter_map(|s| rank(*s)).max();
        if let (Some(now), Some(highest)) = (rank(status), highest)
            && now < highest
        {
            return Err(format!("status of {id} went backwards: {seen:?}"));
        }
        if let Some(first_terminal) = seen.iter().find(|s| s.is_terminal())
            && status != *first_terminal
        {
            return Err(format!("status of {id} left a terminal state: {seen:?}"));
        }
        if done(status) {
            if status.is_terminal() {
                for _ in 0..3 {
                    tokio::time::sleep(cx.timing.poll_interval).await;
                    let again = runner
                        .status(id)
                        .await
                        .map_err(|e| format!("status of {id} failed: {e}"))?
                        .status;
                    if again != status {
                        return Err(format!(
                            "status of {id} left terminal {status:?} for {again:?}"
                        ));
                    }
                }
            }
            return Ok(status);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "build {id} did not get there within {:?}: {seen:?}",
                cx.timing.lifecycle_timeout
            ));
        }
        tokio::time::sleep(cx.timing.poll_interval).await;
    }
}

pub(crate) fn expect_status(id: &BuildId, got: BuildStatus, want: BuildStatus) -> CheckResult {
    if got == want {
        Ok(())
    } else {
        Err(format!("build {id} ended {got:?}, expected {want:?}"))
    }
}

async fn distinct_ids_under_concurrent_triggers(cx: &Context<'_>) -> CheckResult {
    let runner = cx.env.runner();
    let count = cx.timing.concurrency.clamp(2, 20);
    let tasks: Vec<_> = (0..count)
        .map(|i| {
            let runner = Arc::clone(&runner);
            tokio::spawn(async move {
                let request = build(head(&unique(&format!("distinct-{i}"))))?;
                trigger(runner.as_ref(), &request).await
            })
        })
        .collect();
    let mut ids = HashSet::new();
    for task in tasks {
        let id = task
            .await
            .map_err(|e| format!("a trigger task died: {e}"))??;
        if !ids.insert(id.clone()) {
            return Err(format!("two concurrent triggers returned the same id {id}"));
        }
    }
    Ok(())
}

async fn status_right_after_trigger_is_known(cx: &Context<'_>) -> CheckResult {
    let runner = cx.env.runner();
    let id = trigger(runner.as_ref(), &build(head(&unique("right-after")))?).await?;
    let report = runner
        .status(&id)
        .await
        .map_err(|e| format!("status right after trigger failed: {e}"))?;
    if report.status == BuildStatus::Unknown {
        return Err(format!("status of {id} right after trigger is Unknown"));
    }
    Ok(())
}

async fn default_outcome_succeeds(cx: &Context<'_>) -> CheckResult {
    let runner = cx.env.runner();
    let id = trigger(runner.as_ref(), &build(head(&unique("default")))?).await?;
    let status = follow(cx, runner.as_ref(), &id, BuildStatus::is_terminal).await?;
    expect_status(&id, status, BuildStatus::Succeeded)
}

async fn fail_marker_fails(cx: &Context<'_>) -> CheckResult {
    let runner = cx.env.runner();
    let id = trigger(runner.as_ref(), &build(head(&marked("fail", "fail")))?).await?;
    let status = follow(cx, runner.as_ref(), &id, BuildStatus::is_terminal).await?;
    expect_status(&id, status, BuildStatus::Failed)
}

async fn trigger_error_marker_fails_trigger(cx: &Context<'_>) -> CheckResult {
    let request = build(head(&marked("trigger-error", "trigger-error")))?;
    match cx.env.runner().trigger(&request).await {
        Ok(id) => Err(format!("trigger with a trigger-error marker returned {id}")),
        Err(Error::Rejected { .. }) => Ok(()),
        Err(other) => Err(format!(
            "trigger with a trigger-error marker failed as {} ({other}), expected rejected",
            other.kind()
        )),
    }
}

async fn status_error_marker_fails_status(cx: &Context<'_>) -> CheckResult {
    let runner = cx.env.runner();
    let id = trigger(
        runner.as_ref(),
        &build(head(&marked("status-error", "status-error")))?,
    )
    .await?;
    match runner.status(&id).await {
        Ok(report) => Err(format!(
            "status of a status-error build returned {:?}",
            report.status
        )),
        Err(error) if error.is_retryable() => Ok(()),
        Err(other) => Err(format!(
            "status of a status-error build failed as {} ({other}), expected a retryable error",
            other.kind()
        )),
    }
}

async fn cancel_of_hang_reaches_cancelled(cx: &Context<'_>) -> CheckResult {
    let runner = cx.env.runner();
    let id = trigger(runner.as_ref(), &build(head(&marked("hang", "hang")))?).await?;
    follow(cx, runner.as_ref(), &id, |s| s == BuildStatus::Running).await?;
    runner
        .cancel(&id)
        .await
        .map_err(|e| format!("cancel of running {id} failed: {e}"))?;
    let status = follow(cx, runner.as_ref(), &id, BuildStatus::is_terminal).await?;
    expect_status(&id, status, BuildStatus::Cancelled)
}

async fn cancel_of_terminal_build_is_a_no_op(cx: &Context<'_>) -> CheckResult {
    let runner = cx.env.runner();
    for uri in [unique("noop-pass"), marked("noop-fail", "fail")] {
        let id = trigger(runner.as_ref(), &build(head(&uri))?).await?;
        // Which verdict the build reached is other checks' business; this one proves the
        // cancel changes nothing.
        let before = follow(cx, runner.as_ref(), &id, BuildStatus::is_terminal).await?;
        runner
            .cancel(&id)
            .await
            .map_err(|e| format!("cancel of terminal {id} failed: {e}"))?;
        let after = runner
            .status(&id)
            .await
            .map_err(|e| format!("status of {id} failed: {e}"))?;
        expect_status(&id, after.status, before).map_err(|e| format!("after cancel: {e}"))?;
    }
    Ok(())
}

async fn block_is_never_green_and_cancel_ends_it(cx: &Context<'_>) -> CheckResult {
    let runner = cx.env.runner();
    let id = trigger(runner.as_ref(), &build(head(&marked("block", "block")))?).await?;
    // Long enough for an emulated build to run and reach its block step.
    for _ in 0..20 {
        let status = runner
            .status(&id)
            .await
            .map_err(|e| format!("status of {id} failed: {e}"))?
            .status;
        if !matches!(status, BuildStatus::Accepted | BuildStatus::Running) {
            return Err(format!(
                "build {id} waiting for a person was reported {status:?}"
            ));
        }
        tokio::time::sleep(cx.timing.poll_interval).await;
    }
    match runner.cancel(&id).await {
        Ok(()) => {
            let status = follow(cx, runner.as_ref(), &id, BuildStatus::is_terminal).await?;
            expect_status(&id, status, BuildStatus::Cancelled)
        }
        Err(Error::Rejected { .. }) => {
            let status = runner
                .status(&id)
                .await
                .map_err(|e| format!("status of {id} failed: {e}"))?
                .status;
            if status.is_terminal() {
                return Err(format!("a refused cancel left {id} {status:?}"));
            }
            Ok(())
        }
        Err(other) => Err(format!(
            "cancel of blocked {id} failed as {} ({other}); expected Ok or rejected",
            other.kind()
        )),
    }
}

async fn unknown_build_is_not_found(cx: &Context<'_>) -> CheckResult {
    let runner = cx.env.runner();
    let id = cx.env.unknown_build_id();
    match runner.status(&id).await {
        Err(Error::NotFound { .. }) => {}
        other => {
            return Err(format!(
                "status of unknown {id}: expected NotFound, got {other:?}"
            ));
        }
    }
    match runner.cancel(&id).await {
        Err(Error::NotFound { .. }) => Ok(()),
        other => Err(format!(
            "cancel of unknown {id}: expected NotFound, got {other:?}"
        )),
    }
}

async fn malformed_id_is_invalid(cx: &Context<'_>) -> CheckResult {
    let runner = cx.env.runner();
    let ids = cx.env.malformed_build_ids();
    if ids.is_empty() {
        return Err("the harness lists no malformed ids to try".to_owned());
    }
    for id in ids {
        match runner.status(&id).await {
            Err(Error::InvalidBuildId { .. }) => {}
            other => {
                return Err(format!(
                    "status of malformed {id:?}: expected InvalidBuildId, got {other:?}"
                ));
            }
        }
        match runner.cancel(&id).await {
            Err(Error::InvalidBuildId { .. }) => {}
            other => {
                return Err(format!(
                    "cancel of malformed {id:?}: expected InvalidBuildId, got {other:?}"
                ));
            }
        }
    }
    Ok(())
}

async fn fresh_instance_answers_for_minted_ids(cx: &Context<'_>) -> CheckResult {
    let runner = cx.env.runner();
    let id = trigger(runner.as_ref(), &build(head(&unique("restart")))?).await?;
    let fresh = cx.env.fresh_runner().await?;
    let report = fresh
        .status(&id)
        .await
        .map_err(|e| format!("a fresh runner could not answer for {id}: {e}"))?;
    if report.status == BuildStatus::Unknown {
        return Err(format!("a fresh runner reports {id} as Unknown"));
    }
    Ok(())
}

async fn metadata_round_trips(cx: &Context<'_>) -> CheckResult {
    let runner = cx.env.runner();
    let request = build(
        head(&unique("metadata"))
            .metadata(
                "conformance-key",
                "value with spaces, \"quotes\" and ünïcode",
            )
            .metadata("batch", "42"),
    )?;
    let id = trigger(runner.as_ref(), &request).await?;
    let report = runner
        .status(&id)
        .await
        .map_err(|e| format!("status of {id} failed: {e}"))?;
    for (key, value) in request.metadata() {
        if report.metadata.get(key) != Some(value) {
            return Err(format!(
                "metadata {key:?} came back as {:?}, sent {value:?}",
                report.metadata.get(key)
            ));
        }
    }
    Ok(())
}

async fn reports_carry_a_url(cx: &Context<'_>) -> CheckResult {
    let runner = cx.env.runner();
    let id = trigger(runner.as_ref(), &build(head(&unique("url")))?).await?;
    let report = runner
        .status(&id)
        .await
        .map_err(|e| format!("status of {id} failed: {e}"))?;
    match report.url() {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => Ok(()),
        other => Err(format!("report of {id} has url {other:?}")),
    }
}

async fn same_idempotency_key_same_build(cx: &Context<'_>) -> CheckResult {
    let runner = cx.env.runner();
    let key = format!("conformance-{:016x}", random_u64());
    let uri = unique("idempotent");
    let first = trigger(runner.as_ref(), &build(head(&uri).idempotency_key(&key))?).await?;
    let second = trigger(runner.as_ref(), &build(head(&uri).idempotency_key(&key))?).await?;
    if first != second {
        return Err(format!(
            "one idempotency key gave two builds: {first} and {second}"
        ));
    }
    let other = trigger(
        runner.as_ref(),
        &build(head(&uri).idempotency_key(format!("{key}-other")))?,
    )
    .await?;
    if other == first {
        return Err(format!("two idempotency keys gave one build {first}"));
    }
    Ok(())
}

async fn concurrent_mixed_operations(cx: &Context<'_>) -> CheckResult {
    let runner = cx.env.runner();
    let operations = cx.timing.concurrency.max(3);
    let seeds = (operations / 5).max(1);
    let mut ids = Vec::new();
    for i in 0..seeds {
        ids.push(
            trigger(
                runner.as_ref(),
                &build(head(&unique(&format!("mixed-seed-{i}"))))?,
            )
            .await?,
        );
    }
    let ids = Arc::new(ids);
    let tasks: Vec<_> = (0..operations)
        .map(|i| {
            let runner = Arc::clone(&runner);
            let ids = Arc::clone(&ids);
            tokio::spawn(async move {
                let id = &ids[i % ids.len()];
                match i % 3 {
                    0 => {
                        let request = build(head(&unique(&format!("mixed-{i}"))))?;
                        trigger(runner.as_ref(), &request).await.map(drop)
                    }
                    1 => runner
                        .status(id)
                        .await
                        .map(drop)
                        .map_err(|e| format!("status of {id} failed: {e}")),
                    _ => runner
                        .cancel(id)
                        .await
                        .map_err(|e| format!("cancel of {id} failed: {e}")),
                }
            })
        })
        .collect();
    let mut failures = Vec::new();
    for task in tasks {
        if let Err(e) = task
            .await
            .map_err(|e| format!("a task died: {e}"))
            .and_then(|r| r)
        {
            failures.push(e);
        }
    }
    match failures.first() {
        None => Ok(()),
        Some(first) => Err(format!(
            "{} of {operations} operations failed; first: {first}",
            failures.len()
        )),
    }
}

async fn empty_base_is_accepted(cx: &Context<'_>) -> CheckResult {
    let runner = cx.env.runner();
    let request = build(TriggerRequest::builder().head(Change::new([unique("empty-base")])))?;
    let id = trigger(runner.as_ref(), &request).await?;
    runner
        .status(&id)
        .await
        .map(drop)
        .map_err(|e| format!("status of {id} failed: {e}"))
}

async fn head_of_1000_uris_is_accepted(cx: &Context<'_>) -> CheckResult {
    let runner = cx.env.runner();
    let mut builder = TriggerRequest::builder().base(Change::new([unique("big-base")]));
    for i in 0..1000 {
        builder = builder.head(Change::new([unique(&format!("big-head-{i}"))]));
    }
    let id = trigger(runner.as_ref(), &build(builder)?).await?;
    runner
        .status(&id)
        .await
        .map(drop)
        .map_err(|e| format!("status of {id} failed: {e}"))
}

async fn status_many_agrees_with_status(cx: &Context<'_>) -> CheckResult {
    let runner = cx.env.runner();
    let pass = trigger(runner.as_ref(), &build(head(&unique("many-pass")))?).await?;
    let fail = trigger(runner.as_ref(), &build(head(&marked("many-fail", "fail")))?).await?;
    let hang = trigger(runner.as_ref(), &build(head(&marked("many-hang", "hang")))?).await?;
    let block = trigger(
        runner.as_ref(),
        &build(head(&marked("many-block", "block")))?,
    )
    .await?;
    // Settle each build where its status stays put while the two answers are compared.
    follow(cx, runner.as_ref(), &pass, BuildStatus::is_terminal).await?;
    follow(cx, runner.as_ref(), &fail, BuildStatus::is_terminal).await?;
    follow(cx, runner.as_ref(), &hang, |s| s == BuildStatus::Running).await?;
    // As long as the block check waits: the build has reached the step that waits for a
    // person (a CI may show that wait as queued or as running), where a batched answer
    // that reads the wait wrongly would call it green.
    tokio::time::sleep(cx.timing.poll_interval * 20).await;
    let malformed = cx
        .env
        .malformed_build_ids()
        .into_iter()
        .next()
        .ok_or("the harness lists no malformed ids to try")?;
    let ids = vec![
        pass.clone(),
        cx.env.unknown_build_id(),
        fail,
        malformed,
        hang.clone(),
        block.clone(),
        pass,
    ];
    let many = runner.status_many(&ids).await;
    if many.len() != ids.len() {
        return Err(format!(
            "status_many of {} ids gave {} answers",
            ids.len(),
            many.len()
        ));
    }
    for (id, answer) in ids.iter().zip(many) {
        let single = runner.status(id).await;
        let agree = match (&answer, &single) {
            (Ok(a), Ok(b)) => a.status == b.status,
            (Err(a), Err(b)) => a.kind() == b.kind(),
            _ => false,
        };
        if !agree {
            return Err(format!(
                "for {id:?} status_many answered {answer:?} but status {single:?}"
            ));
        }
    }
    runner
        .cancel(&hang)
        .await
        .map_err(|e| format!("cancel of {hang} failed: {e}"))?;
    match runner.cancel(&block).await {
        Ok(()) | Err(Error::Rejected { .. }) => Ok(()),
        Err(e) => Err(format!("cancel of {block} failed: {e}")),
    }
}
