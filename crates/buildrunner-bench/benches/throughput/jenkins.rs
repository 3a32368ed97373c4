//! What following a Jenkins build costs in requests: a poll of a queued build (the queue
//! item), a poll of a started one (the build, once its number is known), and a whole
//! lifecycle, each against one request per call, on the Jenkins emulator in this process.

use std::time::Duration;

use buildrunner_api::{BuildRunner, BuildStatus};
use buildrunner_jenkins::{JenkinsConfig, JenkinsRunner, Token};
use jenkins_emulator::{Emulated, Emulator, EmulatorConfig, Timings};

use crate::Figure;
use crate::platform::{TOKEN, request};

const POLLS: usize = 20;

fn per_poll(name: &str, requests: usize) -> Figure {
    Figure {
        name: format!("jenkins_status_requests_per_poll_{name}"),
        value: requests as f64 / POLLS as f64,
        unit: "requests".into(),
        baseline: Some(("one_request_per_call".into(), 1.0)),
    }
}

pub(crate) async fn jenkins(figures: &mut Vec<Figure>) {
    let timings = Timings::new(
        Duration::from_millis(400),
        Duration::from_secs(3600),
        Duration::ZERO,
    );
    let emulator = Emulator::start(EmulatorConfig::new(TOKEN).with_timings(timings))
        .await
        .unwrap();
    let config = JenkinsConfig::new(&emulator.url(), "bench/app", "bench").unwrap();
    let runner = JenkinsRunner::new("bench", config, Token::new(TOKEN).unwrap()).unwrap();
    let id = runner.trigger(&request(1)).await.unwrap();
    let triggered = emulator.requests().len();
    for _ in 0..POLLS {
        assert_eq!(
            runner.status(&id).await.unwrap().status,
            BuildStatus::Accepted
        );
    }
    let queued = emulator.requests().len() - triggered;
    figures.push(per_poll("queued", queued));
    tokio::time::sleep(Duration::from_millis(450)).await;
    emulator.clear_requests();
    for _ in 0..POLLS {
        assert_eq!(
            runner.status(&id).await.unwrap().status,
            BuildStatus::Running
        );
    }
    figures.push(per_poll("started", emulator.requests().len()));
    runner.cancel(&id).await.unwrap();
    let total = triggered + queued + emulator.requests().len();
    figures.push(Figure {
        name: format!(
            "jenkins_requests_per_lifecycle_trigger_{}_polls_cancel",
            2 * POLLS
        ),
        value: total as f64,
        unit: "requests".into(),
        baseline: Some(("one_request_per_call".into(), (1 + 2 * POLLS + 1) as f64)),
    });
}
