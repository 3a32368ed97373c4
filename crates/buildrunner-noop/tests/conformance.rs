//! The noop backend against the shared conformance suite, in process (no HTTP, so no
//! fault matrix).

use std::process::ExitCode;

use std::sync::Arc;

use async_trait::async_trait;
use buildrunner_api::{BuildId, BuildRunner, Capabilities};
use buildrunner_conformance::{Environment, Harness, Suite};

use buildrunner_noop::{CAPABILITIES, NAME, NoopRunner, unminted_build_id};

struct NoopHarness;

struct NoopEnvironment {
    runner: Arc<NoopRunner>,
}

#[async_trait]
impl Harness for NoopHarness {
    fn backend(&self) -> &'static str {
        NAME
    }

    fn describe(&self) -> String {
        "in process".to_owned()
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn environment(&self) -> Result<Box<dyn Environment>, String> {
        Ok(Box::new(NoopEnvironment {
            runner: Arc::new(NoopRunner::new()),
        }))
    }
}

#[async_trait]
impl Environment for NoopEnvironment {
    fn runner(&self) -> Arc<dyn BuildRunner> {
        self.runner.clone()
    }

    async fn fresh_runner(&self) -> Result<Arc<dyn BuildRunner>, String> {
        Ok(Arc::new(NoopRunner::new()))
    }

    fn unknown_build_id(&self) -> BuildId {
        unminted_build_id()
    }

    fn malformed_build_ids(&self) -> Vec<BuildId> {
        [
            "",
            "noop",
            "acme/monorepo/42",
            "noop:pass:xyz:00000000",
            "noop:trigger-error:00000000000000000000000000000000:00000000",
            "noop:pass:00000000000000000000000000000000",
        ]
        .into_iter()
        .map(BuildId::from)
        .collect()
    }
}

fn main() -> ExitCode {
    Suite::new().harness(NoopHarness).run()
}
