//! What a runner remembers of the builds whose failed jobs it asked to retry, so that a read
//! still showing the earlier attempt is never taken for the build's verdict.
//!
//! GitHub publishes a re-run late (a read right after `rerun-failed-jobs` can still say
//! `completed` / `failure`), and no CI promises the contrary. A merge queue that took that
//! read for the verdict would evict a pull request whose retry is about to pass. So after a
//! retry, terminal reads of the same attempt are reported `Running` until the CI shows the
//! retry under way (a non-terminal read, or a higher attempt). This is a latency cache only:
//! it is bounded in size and age, and a fresh runner (a restart) has none.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use buildrunner_api::{BuildId, BuildReport, BuildStatus};

/// How many retried builds a runner remembers; the oldest note goes first.
pub const RETRIED_CAPACITY: usize = 4096;

/// How long a note lasts: a retry the CI has not shown under way by then is not waited for.
pub const RETRIED_TTL: Duration = Duration::from_secs(10 * 60);

/// The metadata key set on a report whose read still showed the earlier attempt.
pub const RETRY_PENDING_KEY: &str = "retry_pending";

#[derive(Debug, Clone, Copy)]
struct Note {
    at: Instant,
    attempt: Option<u32>,
}

/// Builds whose failed jobs were retried and not yet seen under way again.
#[derive(Debug, Default)]
pub struct RetriedBuilds {
    notes: Mutex<HashMap<BuildId, Note>>,
}

impl RetriedBuilds {
    /// Remembers that `id`'s failed jobs were retried from `attempt` (where the CI counts).
    pub fn note(&self, id: &BuildId, attempt: Option<u32>) {
        let mut notes = self.notes.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        notes.retain(|_, note| now.duration_since(note.at) < RETRIED_TTL);
        if notes.len() >= RETRIED_CAPACITY
            && let Some(oldest) = notes
                .iter()
                .min_by_key(|(_, n)| n.at)
                .map(|(id, _)| id.clone())
        {
            notes.remove(&oldest);
        }
        notes.insert(id.clone(), Note { at: now, attempt });
    }

    /// `report` as the verdict may take it: a terminal read of the attempt that was retried is
    /// `Running` (with `retry_pending=true`); a read that shows the retry under way forgets
    /// the note.
    pub fn settle(&self, id: &BuildId, mut report: BuildReport) -> BuildReport {
        let mut notes = self.notes.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(note) = notes.get(id).copied() else {
            return report;
        };
        let newer =
            matches!((report.attempt(), note.attempt), (Some(now), Some(then)) if now > then);
        if !report.status.is_terminal() || newer || note.at.elapsed() >= RETRIED_TTL {
            notes.remove(id);
            return report;
        }
        report.status = BuildStatus::Running;
        report
            .metadata
            .insert(RETRY_PENDING_KEY.to_owned(), "true".to_owned());
        report
    }

    /// Whether a retry of `id` is remembered and not yet seen under way.
    pub fn pending(&self, id: &BuildId) -> bool {
        self.notes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use buildrunner_api::BuildMetadata;

    fn report(status: BuildStatus, attempt: Option<u32>) -> BuildReport {
        let metadata: BuildMetadata = attempt
            .map(|a| (buildrunner_api::ATTEMPT_KEY.to_owned(), a.to_string()))
            .into_iter()
            .collect();
        BuildReport::new(status).with_metadata(metadata)
    }

    #[test]
    fn a_stale_failure_is_running_until_the_retry_shows() {
        let retried = RetriedBuilds::default();
        let id = BuildId::new("acme/app/7");
        let other = BuildId::new("acme/app/8");
        assert_eq!(
            retried
                .settle(&id, report(BuildStatus::Failed, Some(1)))
                .status,
            BuildStatus::Failed,
            "no note, no change"
        );
        retried.note(&id, Some(1));
        let stale = retried.settle(&id, report(BuildStatus::Failed, Some(1)));
        assert_eq!(stale.status, BuildStatus::Running);
        assert_eq!(
            stale.metadata.get(RETRY_PENDING_KEY).map(String::as_str),
            Some("true")
        );
        assert_eq!(
            retried
                .settle(&other, report(BuildStatus::Failed, Some(1)))
                .status,
            BuildStatus::Failed
        );
        // A newer attempt that already finished is the verdict, and forgets the note.
        assert_eq!(
            retried
                .settle(&id, report(BuildStatus::Failed, Some(2)))
                .status,
            BuildStatus::Failed
        );
        assert!(!retried.pending(&id));
    }

    #[test]
    fn without_attempts_the_first_running_read_ends_the_note() {
        let retried = RetriedBuilds::default();
        let id = BuildId::new("acme/app/7");
        retried.note(&id, None);
        assert_eq!(
            retried
                .settle(&id, report(BuildStatus::Failed, None))
                .status,
            BuildStatus::Running
        );
        assert_eq!(
            retried
                .settle(&id, report(BuildStatus::Running, None))
                .status,
            BuildStatus::Running
        );
        assert_eq!(
            retried
                .settle(&id, report(BuildStatus::Failed, None))
                .status,
            BuildStatus::Failed,
            "the retried attempt's own failure is the verdict"
        );
    }

    #[test]
    fn the_notes_are_bounded() {
        let retried = RetriedBuilds::default();
        for n in 0..RETRIED_CAPACITY + 10 {
            retried.note(&BuildId::new(format!("acme/app/{n}")), None);
        }
        let kept = retried
            .notes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        assert_eq!(kept, RETRIED_CAPACITY);
        assert!(retried.pending(&BuildId::new(format!("acme/app/{}", RETRIED_CAPACITY + 9))));
    }
}
