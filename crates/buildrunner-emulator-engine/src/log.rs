//! The log of requests an emulator received, bounded.

use std::collections::VecDeque;

/// One request as the emulator received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// `GET`, `POST`, `PUT`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The status answered, or 0 when the connection was dropped without an answer.
    pub status: u16,
}

/// The most recent requests, at most `capacity`.
#[derive(Debug)]
pub struct RequestLog {
    capacity: usize,
    entries: VecDeque<LoggedRequest>,
}

impl RequestLog {
    /// A log keeping at most `capacity` requests; older ones are dropped first.
    pub fn new(capacity: usize) -> Self {
        RequestLog {
            capacity,
            entries: VecDeque::new(),
        }
    }

    /// Records a request.
    pub fn push(&mut self, request: LoggedRequest) {
        if self.capacity == 0 {
            return;
        }
        while self.entries.len() >= self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(request);
    }

    /// Every request kept, oldest first.
    pub fn all(&self) -> Vec<LoggedRequest> {
        self.entries.iter().cloned().collect()
    }

    /// Forgets every request.
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}
