//! A bounded cache of the last answer per run, so unchanged polls are conditional requests
//! answered 304, which do not count against GitHub's primary rate limit.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use buildrunner_api::BuildReport;

/// The most runs whose last answer is kept; the oldest entry goes first.
pub(crate) const DEFAULT_CAPACITY: usize = 4096;

#[derive(Debug)]
struct Entry {
    etag: String,
    report: BuildReport,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct EtagCache {
    capacity: usize,
    inner: Mutex<(HashMap<u64, Entry>, VecDeque<u64>)>,
}

impl EtagCache {
    pub fn new(capacity: usize) -> Self {
        EtagCache {
            capacity: capacity.max(1),
            inner: Mutex::new((HashMap::new(), VecDeque::new())),
        }
    }

    /// The entity tag of the last answer for `run_id`.
    pub fn etag(&self, run_id: u64) -> Option<String> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.0.get(&run_id).map(|e| e.etag.clone())
    }

    /// The report of the last answer, when its entity tag is `etag`.
    pub fn report(&self, run_id: u64, etag: &str) -> Option<BuildReport> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner
            .0
            .get(&run_id)
            .filter(|e| e.etag == etag)
            .map(|e| e.report.clone())
    }

    pub fn store(&self, run_id: u64, etag: String, report: BuildReport) {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (entries, order) = &mut *guard;
        if entries.insert(run_id, Entry { etag, report }).is_none() {
            order.push_back(run_id);
            while order.len() > self.capacity {
                if let Some(oldest) = order.pop_front() {
                    entries.remove(&oldest);
                }
            }
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use buildrunner_api::BuildStatus;

    #[test]
    fn the_cache_is_bounded_and_matches_tags() {
        let cache = EtagCache::new(2);
        let report = BuildReport::new(BuildStatus::Running);
        cache.store(1, "a".into(), report.clone());
        cache.store(2, "b".into(), report.clone());
        cache.store(1, "a2".into(), report.clone());
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.etag(1).as_deref(), Some("a2"));
        assert!(cache.report(1, "a").is_none());
        cache.store(3, "c".into(), report);
        assert_eq!(cache.len(), 2);
        assert!(cache.etag(1).is_none(), "the oldest run went first");
        assert!(cache.report(3, "c").is_some());
    }
}
