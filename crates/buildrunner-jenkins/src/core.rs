//! Jenkins' endpoints: the job's parameter definitions, `buildWithParameters`, queue items,
//! the job's recent builds, a build, its stages, `cancelItem` and `stop`; each one request
//! through the shared [`HttpClient`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use buildrunner_api::{BuildId, Error, JobReport, Result};
use buildrunner_http::rate::{BudgetKey, PROXY_LIMITS_ONLY};
use buildrunner_http::{
    Auth, ClientSpec, HttpParts, Method, Operation, Reply, Request, StatusCode, Token, Url, header,
    join_path, keyed_capabilities,
};
use serde_json::Value;

use crate::error::{not_found, post_error, trigger_error};
use crate::model::{
    Build, QueueItem, decode_stages_response, is_job_url, parameter, queue_item_of_location,
};
use crate::{JenkinsConfig, NAME};

/// How many queue ids a runner remembers the build number of.
const NUMBERS_CAPACITY: usize = 4096;

/// Queue item -> build number, for the builds this runner has seen start: a latency cache
/// only (a fresh runner finds the number through the queue item or the job's builds).
#[derive(Debug, Default)]
struct BuildNumbers {
    numbers: HashMap<u64, u64>,
    order: VecDeque<u64>,
}

impl BuildNumbers {
    fn get(&self, queue_id: u64) -> Option<u64> {
        self.numbers.get(&queue_id).copied()
    }

    fn insert(&mut self, queue_id: u64, number: u64) {
        if self.numbers.insert(queue_id, number).is_none() {
            self.order.push_back(queue_id);
        }
        while self.order.len() > NUMBERS_CAPACITY {
            if let Some(oldest) = self.order.pop_front() {
                self.numbers.remove(&oldest);
            }
        }
    }
}

/// A cancel of a queued item, as Jenkins answered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CancelItem {
    /// 204: taken out of the queue.
    Cancelled,
    /// 404: no longer in the queue (it started, or was cancelled already).
    Gone,
}

/// The endpoints of one job.
#[derive(Debug)]
pub(crate) struct JenkinsCore {
    /// Its configuration, client, capabilities and webhook receiver (feature `webhooks`).
    pub parts: HttpParts<JenkinsConfig>,
    pub ids: buildrunner_http::NumberedIds,
    numbers: Mutex<BuildNumbers>,
    /// Set once the job was seen to declare every parameter a trigger sends.
    parameters_declared: tokio::sync::OnceCell<()>,
}

impl JenkinsCore {
    pub fn new(config: JenkinsConfig, token: &Token) -> Result<Self> {
        let capabilities = keyed_capabilities(crate::CAPABILITIES, config.key_parameter.as_deref());
        let spec = ClientSpec {
            backend: NAME,
            service: "Jenkins",
            options: config.http.clone(),
            auth: Auth::basic(&config.user, token)?,
            default_headers: ClientSpec::accept_json(),
            scheme: Arc::new(PROXY_LIMITS_ONLY),
            budget_key: BudgetKey {
                api_url: config.url.to_string(),
                account: config.user.clone(),
                token_fingerprint: token.fingerprint(),
            },
            budget_store: None,
        };
        Ok(JenkinsCore {
            ids: config.ids(),
            parts: HttpParts::new(spec, config, capabilities)?
                .with_webhooks(crate::webhook::receiver),
            numbers: Mutex::new(BuildNumbers::default()),
            parameters_declared: tokio::sync::OnceCell::new(),
        })
    }

    /// `{root}job/{a}/job/{b}/...{tail}`, each name one encoded segment.
    fn job_url(&self, tail: &[&str]) -> Url {
        let mut segments = Vec::with_capacity(self.parts.config.job.len() * 2 + tail.len());
        for name in &self.parts.config.job {
            segments.push("job");
            segments.push(name.as_str());
        }
        segments.extend_from_slice(tail);
        join_path(&self.parts.config.url, &segments)
    }

    fn root_url(&self, segments: &[&str]) -> Url {
        join_path(&self.parts.config.url, segments)
    }

    /// The build page of build `number`, under the configured root (Jenkins' own urls may
    /// name an internal host).
    pub fn build_page(&self, number: u64) -> String {
        let mut url = self.job_url(&[&number.to_string()]).to_string();
        url.push('/');
        url
    }

    pub fn remembered_number(&self, queue_id: u64) -> Option<u64> {
        self.numbers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(queue_id)
    }

    pub fn remember_number(&self, queue_id: u64, number: u64) {
        self.numbers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(queue_id, number);
    }

    /// Checks once, before the first trigger, that the job declares every parameter a
    /// trigger sends: Jenkins drops undeclared ones without a word.
    pub async fn ensure_parameters_declared(&self) -> Result<()> {
        self.parameters_declared
            .get_or_try_init(|| self.check_parameters())
            .await
            .map(|_| ())
    }

    /// `GET /job/{path}/api/json?tree=property[parameterDefinitions[name]]`.
    async fn check_parameters(&self) -> Result<()> {
        let op = Operation::new(
            "parameter check",
            format!("job {}", self.parts.config.job_path()),
        );
        let mut url = self.job_url(&["api", "json"]);
        url.query_pairs_mut()
            .append_pair("tree", "property[parameterDefinitions[name]]");
        let reply = self
            .parts
            .client
            .idempotent(&op, &Request::get(url))
            .await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Err(not_found(&self.parts.config));
        }
        let job: Value = reply.success(&op)?.decode(&op)?;
        let declared: Vec<&str> = job
            .get("property")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("parameterDefinitions")?.as_array())
            .flatten()
            .filter_map(|d| d.get("name")?.as_str())
            .collect();
        let wanted = self.parts.config.parameter_names();
        let missing: Vec<&str> = wanted
            .into_iter()
            .filter(|n| !declared.contains(n))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(Error::Configuration {
            message: format!(
                "job {:?} does not declare the string parameter(s) {}, and Jenkins drops \
                 undeclared parameters silently; declare them (a Pipeline that declares its \
                 parameters only in its Jenkinsfile has them after its first run: run it once)",
                self.parts.config.job_path(),
                missing.join(", ")
            ),
        })
    }

    /// `POST /job/{path}/buildWithParameters` with a form body: the queue item of the new
    /// build (201), or of the queued one it was merged into (303). With `key`, an outcome
    /// that stays unknown is settled by looking the key up, never by triggering blindly again.
    pub async fn build_with_parameters(&self, form: &[u8], key: Option<&str>) -> Result<u64> {
        const ANSWERS: &[StatusCode] = &[StatusCode::SEE_OTHER];
        let HttpParts { config, client, .. } = &self.parts;
        let op = Operation::new("trigger", format!("job {}", config.job_path()));
        let request = Request::new(Method::POST, self.job_url(&["buildWithParameters"]))
            .form(form)
            .answered_by(ANSWERS);
        let decode = |reply: &Reply| {
            let location = reply
                .headers
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok());
            let Some(location) = location else {
                return Err(op.protocol(
                    format_args!(
                        "HTTP {} without a Location header (expected .../queue/item/N/)",
                        reply.status.as_u16()
                    ),
                    None,
                ));
            };
            queue_item_of_location(location).ok_or_else(|| {
                op.protocol(
                    format_args!(
                        "the Location {:?} is not a queue item (expected .../queue/item/N/)",
                        location.chars().take(200).collect::<String>()
                    ),
                    None,
                )
            })
        };
        let refused = |reply: &Reply| trigger_error(reply, &op, config);
        let lookup = key.map(|key| move || self.find_by_key(key));
        client.create(&op, &request, decode, refused, lookup).await
    }

    /// The queue item of the build whose key parameter is `key`: among this job's queued
    /// items, then among its last 100 builds (the lowest queue id when there are several).
    pub async fn find_by_key(&self, key: &str) -> Result<Option<u64>> {
        let Some(name) = self.parts.config.key_parameter.as_deref() else {
            return Ok(None);
        };
        let op = Operation::new(
            "idempotency lookup",
            format!("job {}", self.parts.config.job_path()),
        );
        let mut url = self.root_url(&["queue", "api", "json"]);
        url.query_pairs_mut().append_pair(
            "tree",
            "items[id,task[url],actions[parameters[name,value]]]",
        );
        let queue: Value = self.parts.client.fetch(&op, &Request::get(url)).await?;
        let items = queue
            .get("items")
            .and_then(Value::as_array)
            .ok_or_else(|| op.protocol("the queue has no items array", None))?;
        let ours = self.parts.config.job_url_path();
        let queued = items
            .iter()
            .filter_map(QueueItem::from_json)
            .filter(|item| {
                item.task_url
                    .as_deref()
                    .is_some_and(|u| is_job_url(u, &ours))
            })
            .filter(|item| parameter(&item.actions, name).as_deref() == Some(key))
            .map(|item| item.id)
            .min();
        if queued.is_some() {
            return Ok(queued);
        }
        let builds = self
            .recent_builds(
                &op,
                "builds[number,queueId,actions[parameters[name,value]]]{0,100}",
            )
            .await?;
        let started = builds
            .iter()
            .filter(|b| parameter(&b.actions, name).as_deref() == Some(key))
            .filter_map(|b| Some((b.queue_id?, b.number)))
            .min();
        Ok(started.map(|(queue_id, number)| {
            self.remember_number(queue_id, number);
            queue_id
        }))
    }

    /// `GET /job/{path}/api/json?tree={tree}`: the job's last 100 builds (Jenkins' cap).
    async fn recent_builds(&self, op: &Operation, tree: &str) -> Result<Vec<Build>> {
        let mut url = self.job_url(&["api", "json"]);
        url.query_pairs_mut().append_pair("tree", tree);
        let reply = self.parts.client.idempotent(op, &Request::get(url)).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Err(not_found(&self.parts.config));
        }
        let job: Value = reply.success(op)?.decode(op)?;
        let builds = job.get("builds").and_then(Value::as_array).ok_or_else(|| {
            op.protocol("the job has no builds array (expected builds[...])", None)
        })?;
        builds
            .iter()
            .map(|b| {
                Build::from_json(b)
                    .ok_or_else(|| op.protocol("a build in the job's list has no number", None))
            })
            .collect()
    }

    /// `GET /queue/item/{N}/api/json`; `None` once Jenkins forgot it (404: 5 minutes after
    /// it left the queue).
    pub async fn queue_item(&self, id: &BuildId, queue_id: u64) -> Result<Option<QueueItem>> {
        let op = Operation::new("status", id.as_str());
        let mut url = self.root_url(&["queue", "item", &queue_id.to_string(), "api", "json"]);
        url.query_pairs_mut().append_pair(
            "tree",
            "id,why,blocked,buildable,stuck,cancelled,executable[number,url],task[url],actions[parameters[name,value]]",
        );
        let reply = self
            .parts
            .client
            .idempotent(&op, &Request::get(url))
            .await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let value: Value = reply.success(&op)?.decode(&op)?;
        let item = QueueItem::from_json(&value).ok_or_else(|| {
            op.protocol("the queue item is not an object with a numeric id", None)
        })?;
        if item.id != queue_id {
            return Err(op.protocol(
                format_args!("Jenkins answered with queue item {}", item.id),
                None,
            ));
        }
        if let crate::QueueState::Started { number } = item.state {
            self.remember_number(queue_id, number);
        }
        Ok(Some(item))
    }

    /// The number of the build that came from queue item `queue_id`, among the job's last
    /// 100 builds (`queueId`, exported since Jenkins 1.601).
    pub async fn number_of_queue_item(&self, id: &BuildId, queue_id: u64) -> Result<Option<u64>> {
        let op = Operation::new("status", id.as_str());
        let builds = self
            .recent_builds(&op, "builds[number,queueId]{0,100}")
            .await?;
        let number = builds
            .iter()
            .find(|b| b.queue_id == Some(queue_id))
            .map(|b| b.number);
        if let Some(number) = number {
            self.remember_number(queue_id, number);
        }
        Ok(number)
    }

    /// `GET /job/{path}/{n}/api/json`.
    pub async fn build(&self, id: &BuildId, number: u64) -> Result<Build> {
        let op = Operation::new("status", id.as_str());
        let mut url = self.job_url(&[&number.to_string(), "api", "json"]);
        url.query_pairs_mut().append_pair(
            "tree",
            "number,url,building,result,queueId,actions[_class,waitingForInput,parameters[name,value]]",
        );
        let value: Value = self.parts.client.fetch(&op, &Request::get(url)).await?;
        let build = Build::from_json(&value)
            .ok_or_else(|| op.protocol("the build is not an object with a numeric number", None))?;
        if build.number != number {
            return Err(op.protocol(
                format_args!("Jenkins answered with build {}", build.number),
                None,
            ));
        }
        Ok(build)
    }

    /// `GET /job/{path}/{n}/wfapi/describe`: the Pipeline's stages; none where the Pipeline
    /// REST API plugin does not answer (404: a freestyle job, or the plugin is absent).
    pub async fn stages(&self, id: &BuildId, number: u64) -> Result<Vec<JobReport>> {
        let op = Operation::new("jobs", id.as_str());
        let url = self.job_url(&[&number.to_string(), "wfapi", "describe"]);
        let reply = self
            .parts
            .client
            .idempotent(&op, &Request::get(url))
            .await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        let reply = reply.success(&op)?;
        let page = self.build_page(number);
        decode_stages_response(&reply.body, Some(&page), self.parts.config.unstable)
            .map_err(|e| op.protocol(e, None))
    }

    /// `POST /queue/cancelItem?id=N`.
    pub async fn cancel_item(&self, id: &BuildId, queue_id: u64) -> Result<CancelItem> {
        let op = Operation::new("cancel", id.as_str());
        let mut url = self.root_url(&["queue", "cancelItem"]);
        url.query_pairs_mut()
            .append_pair("id", &queue_id.to_string());
        let reply = self
            .parts
            .client
            .idempotent(&op, &Request::new(Method::POST, url))
            .await?;
        match reply.status {
            status if status.is_success() => Ok(CancelItem::Cancelled),
            StatusCode::NOT_FOUND => Ok(CancelItem::Gone),
            StatusCode::UNPROCESSABLE_ENTITY => Err(Error::PermissionDenied {
                message: format!(
                    "{}: user {:?} may not cancel queued items of job {:?} (HTTP 422)",
                    op.describe(),
                    self.parts.config.user,
                    self.parts.config.job_path()
                ),
            }),
            _ => Err(post_error(&reply, &op)),
        }
    }

    /// `POST /job/{path}/{n}/stop`: Jenkins answers 302 whatever happened, so the answer
    /// says nothing; a later read shows `ABORTED`.
    pub async fn stop(&self, id: &BuildId, number: u64) -> Result<()> {
        let op = Operation::new("cancel", id.as_str());
        let url = self.job_url(&[&number.to_string(), "stop"]);
        let reply = self
            .parts
            .client
            .idempotent(&op, &Request::new(Method::POST, url))
            .await?;
        match reply.status {
            status if status.is_success() || status == StatusCode::FOUND => Ok(()),
            StatusCode::NOT_FOUND => Err(Error::NotFound { id: id.to_string() }),
            _ => Err(post_error(&reply, &op)),
        }
    }
}
