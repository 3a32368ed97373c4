//! The checks of jobs and of retries of failed jobs: what a merge queue needs to say which job
//! failed and to give a flaky build a second chance without losing its place.

use buildrunner_api::{BuildId, BuildRunner, BuildStatus, Error};

use super::{build, expect_status, follow, head, marked, trigger, unique};
use crate::{CheckResult, Context};

/// A `flaky` build followed to its first verdict, which must be `Failed`.
async fn failed_flaky(cx: &Context<'_>, runner: &dyn BuildRunner) -> Result<BuildId, String> {
    let id = trigger(runner, &build(head(&marked("flaky", "flaky")))?).await?;
    let status = follow(cx, runner, &id, BuildStatus::is_terminal).await?;
    expect_status(&id, status, BuildStatus::Failed)
        .map_err(|e| format!("before any retry: {e}"))?;
    Ok(id)
}

/// A `flaky` build that failed, and whose failed jobs `retry_failed` was asked to retry.
async fn retried_flaky(cx: &Context<'_>, runner: &dyn BuildRunner) -> Result<BuildId, String> {
    let id = failed_flaky(cx, runner).await?;
    runner
        .retry_failed(&id)
        .await
        .map_err(|e| format!("retry_failed of failed {id} failed: {e}"))?;
    Ok(id)
}

async fn status_of(runner: &dyn BuildRunner, id: &BuildId) -> Result<BuildStatus, String> {
    runner
        .status(id)
        .await
        .map(|report| report.status)
        .map_err(|e| format!("status of {id} failed: {e}"))
}

pub(crate) async fn failed_build_names_a_failed_job(cx: &Context<'_>) -> CheckResult {
    let runner = cx.env.runner();
    let id = trigger(runner.as_ref(), &build(head(&marked("jobs", "fail")))?).await?;
    // That a `fail` build ends Failed is fail_marker_fails' business; this check reads the
    // jobs of one that did.
    if follow(cx, runner.as_ref(), &id, BuildStatus::is_terminal).await? != BuildStatus::Failed {
        return Ok(());
    }
    let jobs = runner
        .jobs(&id)
        .await
        .map_err(|e| format!("jobs of failed {id} failed: {e}"))?;
    let failed = jobs
        .iter()
        .find(|job| job.failed())
        .ok_or_else(|| format!("failed {id} lists no failed job: {jobs:?}"))?;
    if runner.capabilities().web_url {
        match failed.url.as_deref() {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {}
            other => return Err(format!("failed job {:?} has url {other:?}", failed.name)),
        }
    }
    Ok(())
}

pub(crate) async fn flaky_build_retried_succeeds_under_the_same_id(
    cx: &Context<'_>,
) -> CheckResult {
    let runner = cx.env.runner();
    let id = retried_flaky(cx, runner.as_ref()).await?;
    // Whatever it shows on the way, the same id must end green.
    let deadline = tokio::time::Instant::now() + cx.timing.lifecycle_timeout;
    let mut seen = Vec::new();
    loop {
        let status = status_of(runner.as_ref(), &id).await?;
        if seen.last() != Some(&status) {
            seen.push(status);
        }
        if status == BuildStatus::Succeeded {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "retried {id} did not succeed within {:?}: {seen:?}",
                cx.timing.lifecycle_timeout
            ));
        }
        tokio::time::sleep(cx.timing.poll_interval).await;
    }
}

/// `retry_failed` of `id` must be refused as `Rejected` and leave its status as it was.
async fn refused(runner: &dyn BuildRunner, id: &BuildId, before: BuildStatus) -> CheckResult {
    match runner.retry_failed(id).await {
        Err(Error::Rejected { .. }) => {}
        Ok(()) => return Err(format!("retry_failed of {before:?} {id} was accepted")),
        Err(other) => {
            return Err(format!(
                "retry_failed of {before:?} {id} failed as {} ({other}), expected rejected",
                other.kind()
            ));
        }
    }
    let after = status_of(runner, id).await?;
    expect_status(id, after, before).map_err(|e| format!("after a refused retry: {e}"))
}

pub(crate) async fn retry_of_an_unfailed_build_is_rejected(cx: &Context<'_>) -> CheckResult {
    let runner = cx.env.runner();
    let running = trigger(
        runner.as_ref(),
        &build(head(&marked("retry-hang", "hang")))?,
    )
    .await?;
    follow(cx, runner.as_ref(), &running, |s| s == BuildStatus::Running).await?;
    refused(runner.as_ref(), &running, BuildStatus::Running).await?;
    runner
        .cancel(&running)
        .await
        .map_err(|e| format!("cancel of {running} failed: {e}"))?;
    let green = trigger(runner.as_ref(), &build(head(&unique("retry-pass")))?).await?;
    // Which verdict it reached is other checks' business: any but Failed must be refused.
    match follow(cx, runner.as_ref(), &green, BuildStatus::is_terminal).await? {
        BuildStatus::Failed => Ok(()),
        finished => refused(runner.as_ref(), &green, finished).await,
    }
}

pub(crate) async fn retried_build_is_never_terminal_from_the_old_attempt(
    cx: &Context<'_>,
) -> CheckResult {
    let runner = cx.env.runner();
    let id = retried_flaky(cx, runner.as_ref()).await?;
    // Reads right after the retry may still see the earlier attempt on the CI's side; the
    // runner must not take that for the verdict.
    for read in 1..=3 {
        let status = status_of(runner.as_ref(), &id).await?;
        if status.is_terminal() {
            return Err(format!(
                "read {read} right after retry_failed reported {id} {status:?}"
            ));
        }
    }
    Ok(())
}
