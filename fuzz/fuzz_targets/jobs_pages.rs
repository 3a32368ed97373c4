//! The three backends' jobs-page decoders: any bytes decode to jobs or a protocol error, and
//! a failed job is one whose own state says so.
#![no_main]

use buildrunner_api::{BuildStatus, Error};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    match buildrunner_buildkite::decode_jobs_response(bytes) {
        Ok(jobs) => {
            for job in jobs.iter().filter(|j| j.report.failed()) {
                let state = job.report.detail.as_deref().unwrap_or("");
                assert_eq!(buildrunner_buildkite::job_status(state), BuildStatus::Failed);
            }
        }
        Err(Error::Protocol { .. }) => {}
        Err(other) => panic!("unexpected error {other:?}"),
    }
    for decoded in [
        buildrunner_github_actions::decode_jobs_response(bytes),
        buildrunner_gitlab::decode_jobs_response(bytes),
    ] {
        match decoded {
            Ok(_) | Err(Error::Protocol { .. }) => {}
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
});
