//! Drives a fixture's request through the typed `oz-api` call of its operation: one match arm
//! per operation, setting the path, query and header parameters and the body from the fixture.

use oz_api_ext::oz_api::types;
use oz_api_ext::oz_api::{self, ByteStream, Client, Conditional, MetadataFilter, ResponseValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::fixture::FixtureRequest;
use crate::replay::Credentials;
use crate::spec::Operation;

/// What the SDK made of an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A decoded success, re-encoded as JSON (`Value::Null` when there is no body).
    Success {
        /// HTTP status.
        status: u16,
        /// The decoded value, encoded again.
        body: Value,
    },
    /// A redirect the SDK handed back (it never follows them).
    Redirect {
        /// HTTP status.
        status: u16,
        /// The `Location` header.
        location: Option<String>,
    },
    /// `304 Not Modified` to a request with `If-None-Match` ([`Conditional::NotModified`]).
    NotModified {
        /// The `ETag` the SDK read from the answer.
        etag: Option<String>,
    },
    /// An error answer decoded as a problem body.
    Problem {
        /// HTTP status.
        status: u16,
        /// The decoded problem body, encoded again.
        body: Value,
    },
}

impl Outcome {
    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        match self {
            Self::Success { status, .. }
            | Self::Redirect { status, .. }
            | Self::Problem { status, .. } => *status,
            Self::NotModified { .. } => 304,
        }
    }
}

/// The outcome of a typed call whose success has a JSON body.
pub fn from_result<T: Serialize>(
    result: Result<ResponseValue<T>, oz_api::Error>,
) -> Result<Outcome, String> {
    match result {
        Ok(value) => {
            let status = value.status().as_u16();
            let body = serde_json::to_value(value.into_inner())
                .map_err(|e| format!("re-encoding the decoded value failed: {e}"))?;
            Ok(Outcome::Success { status, body })
        }
        Err(err) => from_error(err),
    }
}

/// The outcome of a typed call whose success is a redirect (the body is a stream).
pub fn from_redirect_result(
    result: Result<ResponseValue<ByteStream>, oz_api::Error>,
) -> Result<Outcome, String> {
    match result {
        Ok(value) => Err(format!(
            "a {} answer where the operation redirects",
            value.status()
        )),
        Err(err) => from_error(err),
    }
}

/// The outcome of a typed call that may carry `If-None-Match`, through [`Conditional`]: a
/// success decodes as usual, a 304 becomes [`Outcome::NotModified`].
pub fn from_conditional<T: Serialize>(
    result: Result<ResponseValue<T>, oz_api::Error>,
) -> Result<Outcome, String> {
    let status = result.as_ref().ok().map(|value| value.status().as_u16());
    match Conditional::from_send(result) {
        Ok(Conditional::Modified { value, .. }) => {
            let body = serde_json::to_value(value)
                .map_err(|e| format!("re-encoding the decoded value failed: {e}"))?;
            Ok(Outcome::Success {
                status: status.unwrap_or(200),
                body,
            })
        }
        Ok(Conditional::NotModified { etag }) => Ok(Outcome::NotModified { etag }),
        Err(err) => from_error(err),
    }
}

/// The outcome of an SDK error: problem bodies and redirects are outcomes, anything else
/// (transport, decoding) is a failure described in one line.
pub fn from_error(err: oz_api::Error) -> Result<Outcome, String> {
    match err {
        oz_api::Error::Problem(value) => {
            let status = value.status().as_u16();
            let body = serde_json::to_value(value.into_inner())
                .map_err(|e| format!("re-encoding the problem body failed: {e}"))?;
            Ok(Outcome::Problem { status, body })
        }
        oz_api::Error::UnexpectedResponse(response) if response.status().is_redirection() => {
            Ok(Outcome::Redirect {
                status: response.status().as_u16(),
                location: response
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            })
        }
        other => Err(format!("the SDK failed: {other}")),
    }
}

/// The placeholder key of [`client`].
pub const API_KEY: &str = "wk-conformance-placeholder";

/// What [`client`] is built with, for [`ReplayServer::check`](crate::replay::ReplayServer::check).
pub const CREDENTIALS: Credentials = Credentials::ApiKey(API_KEY);

/// A client for the replay server: the fixture's base URL, the placeholder [`API_KEY`], no
/// retries (every answer is the fixture's, so a retry would only repeat it).
pub fn client(base_url: &str) -> Client {
    oz_api::Config::new(API_KEY)
        .base_url(base_url)
        .max_retries(0)
        .build()
        .expect("a valid configuration")
}

/// A client without credentials ([`oz_api::Config::anonymous`]): a caller resolving a shared
/// link has no key to send.
pub fn anonymous_client(base_url: &str) -> Client {
    oz_api::Config::anonymous()
        .base_url(base_url)
        .max_retries(0)
        .build()
        .expect("a valid configuration")
}

/// The parameters of a fixture's request, typed on demand.
#[derive(Debug)]
pub struct Params<'a> {
    request: &'a FixtureRequest,
    path: Vec<(String, String)>,
}

impl<'a> Params<'a> {
    /// The parameters of `request`, whose path must fit `operation`'s template.
    pub fn new(operation: &Operation, request: &'a FixtureRequest) -> Result<Self, String> {
        let path = operation
            .path_params(&request.path)
            .ok_or_else(|| format!("path {:?} does not fit {}", request.path, operation.path))?;
        Ok(Self { request, path })
    }

    /// A path parameter.
    pub fn path(&self, name: &str) -> Result<String, String> {
        self.path
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("no path parameter {name}"))
    }

    /// A query parameter as `T`: one value as a string or a JSON literal (`2`, `true`), or all
    /// values of a repeated name as a list.
    pub fn query<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, String> {
        let values: Vec<&str> = self
            .request
            .query
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        if values.is_empty() {
            return Ok(None);
        }
        let literal = |v: &str| serde_json::from_str::<Value>(v).ok();
        let mut candidates = Vec::new();
        if let [one] = values.as_slice() {
            candidates.push(Value::String((*one).to_owned()));
            candidates.extend(literal(one));
        }
        candidates.push(Value::Array(
            values
                .iter()
                .map(|v| Value::String((*v).to_owned()))
                .collect(),
        ));
        if let Some(literals) = values
            .iter()
            .map(|v| literal(v))
            .collect::<Option<Vec<_>>>()
        {
            candidates.push(Value::Array(literals));
        }
        candidates
            .into_iter()
            .find_map(|c| serde_json::from_value(c).ok())
            .map(Some)
            .ok_or_else(|| {
                format!(
                    "query {name}={values:?} is not a {}",
                    std::any::type_name::<T>()
                )
            })
    }

    /// The `metadata[key]=value` pairs as a filter.
    pub fn metadata(&self) -> Result<Option<MetadataFilter>, String> {
        let mut filter = MetadataFilter::new();
        for (name, value) in &self.request.query {
            if let Some(key) = name
                .strip_prefix("metadata[")
                .and_then(|k| k.strip_suffix(']'))
            {
                filter = filter
                    .with(key, value.clone())
                    .map_err(|e| format!("metadata filter: {e}"))?;
            }
        }
        Ok((!filter.is_empty()).then_some(filter))
    }

    /// A request header listed in the fixture.
    pub fn header(&self, name: &str) -> Option<String> {
        self.request.headers.get(name).cloned()
    }

    /// The JSON body as `T`.
    pub fn body<T: DeserializeOwned>(&self) -> Result<T, String> {
        let body = self
            .request
            .body
            .clone()
            .ok_or_else(|| "the fixture's request has no body".to_owned())?;
        serde_json::from_value(body).map_err(|e| {
            format!(
                "the request body is not a {}: {e}",
                std::any::type_name::<T>()
            )
        })
    }
}

/// Sets each optional parameter that the fixture has: `set!(builder, params, limit: u32, ..)`.
macro_rules! set {
    ($builder:expr, $params:expr $(, $name:ident : $ty:ty)* $(,)?) => {{
        #[allow(unused_mut)]
        let mut builder = $builder;
        $(
            if let Some(value) = $params.query::<$ty>(stringify!($name))? {
                builder = builder.$name(value);
            }
        )*
        builder
    }};
}

/// Sets the team header when the fixture has one.
macro_rules! team {
    ($builder:expr, $params:expr) => {{
        let mut builder = $builder;
        if let Some(team) = $params.header("x-warp-team-uid") {
            builder = builder.x_warp_team_uid(team);
        }
        builder
    }};
}

/// Sends the fixture's request through the typed call of `operation` on `client`.
pub async fn call(
    client: &Client,
    operation: &Operation,
    request: &FixtureRequest,
) -> Result<Outcome, String> {
    let p = Params::new(operation, request)?;
    let p = &p;
    match operation.id.as_str() {
        "list_agents" => {
            let b = set!(client.list_agents(), p, repo: String, refresh: bool,
                sort_by: types::ListAgentsSortBy, include_malformed_skills: bool);
            from_result(team!(b, p).send().await)
        }
        "run_agent" => {
            let b = client.run_agent().body(p.body::<types::RunAgentRequest>()?);
            from_result(team!(b, p).send().await)
        }
        "create_run" => {
            let b = client
                .create_run()
                .body(p.body::<types::RunAgentRequest>()?);
            from_result(team!(b, p).send().await)
        }
        "list_runs" => from_result(list_runs(client, p)?.send().await),
        "get_run" => from_result(client.get_run().run_id(p.path("runId")?).send().await),
        "get_run_transcript" => from_redirect_result(
            client
                .get_run_transcript()
                .run_id(p.path("runId")?)
                .send()
                .await,
        ),
        "get_run_conversation" => from_result(
            client
                .get_run_conversation()
                .run_id(p.path("runId")?)
                .send()
                .await,
        ),
        "cancel_run" => from_result(client.cancel_run().run_id(p.path("runId")?).send().await),
        "submit_run_followup" => from_result(
            client
                .submit_run_followup()
                .run_id(p.path("runId")?)
                .body(p.body::<types::RunFollowupRequest>()?)
                .send()
                .await,
        ),
        "get_run_timeline" => from_result(
            client
                .get_run_timeline()
                .run_id(p.path("runId")?)
                .send()
                .await,
        ),
        "report_run_scores" => from_result(
            client
                .report_run_scores()
                .run_id(p.path("runId")?)
                .body(p.body::<types::ReportRunScoresRequest>()?)
                .send()
                .await,
        ),
        "list_handoff_attachments" => from_result(
            client
                .list_handoff_attachments()
                .run_id(p.path("runId")?)
                .send()
                .await,
        ),
        "get_run_by_external_reference" => {
            let url: String = p.query("url")?.ok_or("the fixture has no url query")?;
            from_result(client.get_run_by_external_reference().url(url).send().await)
        }
        "get_conversation" => from_result(
            client
                .get_conversation()
                .conversation_id(p.path("conversationId")?)
                .send()
                .await,
        ),
        "get_conversation_transcript" => from_redirect_result(
            client
                .get_conversation_transcript()
                .conversation_id(p.path("conversationId")?)
                .send()
                .await,
        ),
        "get_conversation_redirect" => from_result(
            client
                .get_conversation_redirect()
                .conversation_id(p.path("conversationId")?)
                .send()
                .await,
        ),
        "get_session_redirect" => from_result(
            client
                .get_session_redirect()
                .session_uuid(p.path("sessionUuid")?)
                .send()
                .await,
        ),
        "get_artifact" => from_result(
            client
                .get_artifact()
                .artifact_uid(p.path("artifactUid")?)
                .send()
                .await,
        ),
        "download_artifact" => from_redirect_result(
            client
                .download_artifact()
                .artifact_uid(p.path("artifactUid")?)
                .send()
                .await,
        ),
        "list_environments" => {
            let b = set!(client.list_environments(), p, sort_by: types::ListEnvironmentsSortBy);
            from_result(team!(b, p).send().await)
        }
        "list_models" => from_result(client.list_models().send().await),
        "list_connected_self_hosted_workers" => from_result(
            team!(client.list_connected_self_hosted_workers(), p)
                .send()
                .await,
        ),
        "create_schedule" => {
            let b = client
                .create_schedule()
                .body(p.body::<types::CreateScheduledAgentRequest>()?);
            from_result(team!(b, p).send().await)
        }
        "list_schedules" => from_result(team!(client.list_schedules(), p).send().await),
        "get_schedule" => from_result(
            client
                .get_schedule()
                .schedule_id(p.path("scheduleId")?)
                .send()
                .await,
        ),
        "update_schedule" => from_result(
            client
                .update_schedule()
                .schedule_id(p.path("scheduleId")?)
                .body(p.body::<types::UpdateScheduledAgentRequest>()?)
                .send()
                .await,
        ),
        "delete_schedule" => from_result(
            client
                .delete_schedule()
                .schedule_id(p.path("scheduleId")?)
                .send()
                .await,
        ),
        "pause_schedule" => from_result(
            client
                .pause_schedule()
                .schedule_id(p.path("scheduleId")?)
                .send()
                .await,
        ),
        "resume_schedule" => from_result(
            client
                .resume_schedule()
                .schedule_id(p.path("scheduleId")?)
                .send()
                .await,
        ),
        "create_agent_identity" => {
            let b = client
                .create_agent_identity()
                .body(p.body::<types::CreateAgentRequest>()?);
            from_result(team!(b, p).send().await)
        }
        "list_agent_identities" => {
            let b = set!(client.list_agent_identities(), p, factory_uid: String);
            from_result(team!(b, p).send().await)
        }
        "get_agent_identity" => from_result(
            client
                .get_agent_identity()
                .agent_uid(p.path("agentUid")?)
                .send()
                .await,
        ),
        "update_agent_identity" => from_result(
            client
                .update_agent_identity()
                .agent_uid(p.path("agentUid")?)
                .body(p.body::<types::UpdateAgentRequest>()?)
                .send()
                .await,
        ),
        "delete_agent_identity" => from_result(
            client
                .delete_agent_identity()
                .agent_uid(p.path("agentUid")?)
                .send()
                .await,
        ),
        "send_agent_message" => from_result(
            client
                .send_agent_message()
                .body(p.body::<types::SendAgentMessageRequest>()?)
                .send()
                .await,
        ),
        "list_agent_messages" => {
            let b = client.list_agent_messages().run_id(p.path("runId")?);
            let b = set!(b, p, unread: bool, since: chrono::DateTime<chrono::Utc>, limit: i64);
            from_result(b.send().await)
        }
        "read_agent_message" => from_result(
            client
                .read_agent_message()
                .message_id(p.path("messageId")?)
                .send()
                .await,
        ),
        "mark_agent_message_delivered" => from_result(
            client
                .mark_agent_message_delivered()
                .message_id(p.path("messageId")?)
                .send()
                .await,
        ),
        "poll_agent_events" => {
            let b =
                set!(client.poll_agent_events(), p, run_ids: Vec<String>, since: i64, limit: i64);
            from_result(b.send().await)
        }
        "report_agent_event" => from_result(
            client
                .report_agent_event()
                .run_id(p.path("runId")?)
                .body(p.body::<types::ReportAgentEventRequest>()?)
                .send()
                .await,
        ),
        "list_factories" => from_result(list_factories(client, p)?.send().await),
        "get_factory" => from_result(
            client
                .get_factory()
                .factory_uid(p.path("factoryUid")?)
                .send()
                .await,
        ),
        "create_factory_run" => from_result(
            client
                .create_factory_run()
                .factory_uid(p.path("factoryUid")?)
                .body(p.body::<types::CreateFactoryRunRequest>()?)
                .send()
                .await,
        ),
        "list_factory_tasks" => from_result(list_factory_tasks(client, p)?.send().await),
        "create_factory_task" => from_result(
            client
                .create_factory_task()
                .factory_uid(p.path("factoryUid")?)
                .body(p.body::<types::CreateFactoryTaskRequest>()?)
                .send()
                .await,
        ),
        "get_factory_task" => from_result(
            client
                .get_factory_task()
                .factory_uid(p.path("factoryUid")?)
                .task_uid(p.path("taskUid")?)
                .send()
                .await,
        ),
        "update_factory_task" => from_result(
            client
                .update_factory_task()
                .factory_uid(p.path("factoryUid")?)
                .task_uid(p.path("taskUid")?)
                .body(p.body::<types::UpdateFactoryTaskRequest>()?)
                .send()
                .await,
        ),
        "delete_factory_task" => from_result(
            client
                .delete_factory_task()
                .factory_uid(p.path("factoryUid")?)
                .task_uid(p.path("taskUid")?)
                .send()
                .await,
        ),
        "cancel_factory_task" => from_result(
            client
                .cancel_factory_task()
                .factory_uid(p.path("factoryUid")?)
                .task_uid(p.path("taskUid")?)
                .send()
                .await,
        ),
        "get_factory_task_by_run" => {
            let run_id: String = p
                .query("run_id")?
                .ok_or("the fixture has no run_id query")?;
            from_result(
                client
                    .get_factory_task_by_run()
                    .factory_uid(p.path("factoryUid")?)
                    .run_id(run_id)
                    .send()
                    .await,
            )
        }
        "get_factory_task_by_conversation" => {
            let conversation_id: String = p
                .query("conversation_id")?
                .ok_or("the fixture has no conversation_id query")?;
            from_result(
                client
                    .get_factory_task_by_conversation()
                    .factory_uid(p.path("factoryUid")?)
                    .conversation_id(conversation_id)
                    .send()
                    .await,
            )
        }
        "list_factory_file_schemas" => {
            let mut b = client.list_factory_file_schemas();
            if let Some(etag) = p.header("if-none-match") {
                b = b.if_none_match(etag);
            }
            from_conditional(b.send().await)
        }
        "get_factory_file_schema" => {
            let mut b = client
                .get_factory_file_schema()
                .schema_version(p.path("schemaVersion")?);
            if let Some(etag) = p.header("if-none-match") {
                b = b.if_none_match(etag);
            }
            from_conditional(b.send().await)
        }
        "get_factory_file_schema_document" => from_result(
            client
                .get_factory_file_schema_document()
                .schema_version(p.path("schemaVersion")?)
                .document(p.path("document")?)
                .send()
                .await,
        ),
        "validate_factory_files" => from_result(
            client
                .validate_factory_files()
                .body(p.body::<types::ValidateFactoryFilesRequest>()?)
                .send()
                .await,
        ),
        "interrupt_run" => {
            from_result(client.interrupt_run().run_id(p.path("runId")?).send().await)
        }
        "interrupt_conversation" => from_result(
            client
                .interrupt_conversation()
                .conversation_id(p.path("conversationId")?)
                .send()
                .await,
        ),
        "submit_conversation_followup" => from_result(
            client
                .submit_conversation_followup()
                .conversation_id(p.path("conversationId")?)
                .body(p.body::<types::RunFollowupRequest>()?)
                .send()
                .await,
        ),
        "get_run_harness_usage" => from_result(
            client
                .get_run_harness_usage()
                .run_id(p.path("runId")?)
                .send()
                .await,
        ),
        "download_conversation_screenshot" => from_redirect_result(
            client
                .download_conversation_screenshot()
                .conversation_id(p.path("conversationId")?)
                .screenshot_uid(p.path("screenshotUid")?)
                .send()
                .await,
        ),
        "list_egress_ranges" => from_result(team!(client.list_egress_ranges(), p).send().await),
        other => Err(format!(
            "no typed call for operation {other}: add a match arm in harness/dispatch.rs"
        )),
    }
}

/// The `list_runs` builder with every filter of the fixture set (shared with the pagination
/// workflow).
pub fn list_runs<'c>(
    client: &'c Client,
    p: &Params<'_>,
) -> Result<oz_api::builder::ListRuns<'c>, String> {
    let b = set!(client.list_runs(), p,
        limit: std::num::NonZeroU64, cursor: String, sort_by: types::ListRunsSortBy,
        sort_order: types::ListRunsSortOrder, state: Vec<types::RunState>, name: String,
        model_id: String, creator: String, executor: String, source: Vec<types::RunSourceType>,
        execution_location: types::RunExecutionLocation,
        created_after: chrono::DateTime<chrono::Utc>,
        created_before: chrono::DateTime<chrono::Utc>,
        updated_after: chrono::DateTime<chrono::Utc>, environment_id: String, skill: String,
        skill_spec: String, schedule_id: String, ancestor_run_id: String,
        artifact_type: types::ArtifactType, automation_id: String, factory_uid: String,
        q: String, factory_only: bool, task_status: Vec<types::FactoryTaskStatus>);
    let b = match p.metadata()? {
        Some(filter) => b.metadata(filter),
        None => b,
    };
    Ok(team!(b, p))
}

/// The `list_factories` builder with every filter of the fixture set (shared with the
/// pagination workflow).
pub fn list_factories<'c>(
    client: &'c Client,
    p: &Params<'_>,
) -> Result<oz_api::builder::ListFactories<'c>, String> {
    let b = set!(client.list_factories(), p, limit: std::num::NonZeroU64, cursor: String,
        search: String, filter_team_uid: String);
    Ok(team!(b, p))
}

/// The `list_factory_tasks` builder with the factory and every filter of the fixture set
/// (shared with the pagination workflow).
pub fn list_factory_tasks<'c>(
    client: &'c Client,
    p: &Params<'_>,
) -> Result<oz_api::builder::ListFactoryTasks<'c>, String> {
    let b = client
        .list_factory_tasks()
        .factory_uid(p.path("factoryUid")?);
    let b = set!(b, p, limit: std::num::NonZeroU64, cursor: String, q: String,
        stage: Vec<types::FactoryTaskStage>, created_by: Vec<String>,
        created_after: chrono::DateTime<chrono::Utc>,
        created_before: chrono::DateTime<chrono::Utc>,
        updated_after: chrono::DateTime<chrono::Utc>, sort_by: types::FactoryTaskSortBy,
        sort_order: types::ListFactoryTasksSortOrder, full_list: bool,
        include_current_run: bool);
    Ok(b)
}
