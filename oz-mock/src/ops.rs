//! The operations of openapi.json: method, path template, operation id and authentication.
//! One table drives request counting, per-operation faults and auth.

use axum::http::Method;

/// Path prefix of every API operation.
pub(crate) const API_PREFIX: &str = "/api/v1";

/// What an operation requires of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// `security: [bearerAuth]`
    Required,
    /// `security: [bearerAuth, {}]`: anonymous callers are served; a wrong key is refused.
    Optional,
    /// `security: []`
    Public,
}

pub(crate) struct Operation {
    pub(crate) method: Method,
    pub(crate) template: &'static str,
    pub(crate) id: &'static str,
    pub(crate) auth: Auth,
}

macro_rules! ops {
    ($($method:ident $template:literal $id:literal $auth:ident;)*) => {
        &[$(Operation { method: Method::$method, template: $template, id: $id, auth: Auth::$auth },)*]
    };
}

pub(crate) static OPERATIONS: &[Operation] = ops! {
    GET "/agent" "list_agents" Required;
    POST "/agent/run" "run_agent" Required;
    POST "/agent/runs" "create_run" Required;
    GET "/agent/runs" "list_runs" Required;
    GET "/agent/runs/{runId}" "get_run" Required;
    GET "/agent/runs/{runId}/transcript" "get_run_transcript" Required;
    GET "/agent/runs/{runId}/conversation" "get_run_conversation" Required;
    POST "/agent/runs/{runId}/cancel" "cancel_run" Required;
    POST "/agent/runs/{runId}/followups" "submit_run_followup" Required;
    GET "/agent/runs/{runId}/timeline" "get_run_timeline" Required;
    POST "/agent/runs/{runId}/scores" "report_run_scores" Required;
    GET "/agent/runs/{runId}/handoff/attachments" "list_handoff_attachments" Required;
    GET "/agent/run-by-external-reference" "get_run_by_external_reference" Required;
    GET "/agent/conversations/{conversationId}" "get_conversation" Required;
    GET "/agent/conversations/{conversationId}/transcript" "get_conversation_transcript" Required;
    GET "/agent/conversations/{conversationId}/redirect" "get_conversation_redirect" Public;
    GET "/agent/sessions/{sessionUuid}/redirect" "get_session_redirect" Public;
    GET "/agent/artifacts/{artifactUid}" "get_artifact" Optional;
    GET "/agent/artifacts/{artifactUid}/download" "download_artifact" Optional;
    GET "/agent/environments" "list_environments" Required;
    GET "/agent/models" "list_models" Required;
    GET "/agent/connected-self-hosted-workers" "list_connected_self_hosted_workers" Required;
    POST "/agent/schedules" "create_schedule" Required;
    GET "/agent/schedules" "list_schedules" Required;
    GET "/agent/schedules/{scheduleId}" "get_schedule" Required;
    PUT "/agent/schedules/{scheduleId}" "update_schedule" Required;
    DELETE "/agent/schedules/{scheduleId}" "delete_schedule" Required;
    POST "/agent/schedules/{scheduleId}/pause" "pause_schedule" Required;
    POST "/agent/schedules/{scheduleId}/resume" "resume_schedule" Required;
    POST "/agent/identities" "create_agent_identity" Required;
    GET "/agent/identities" "list_agent_identities" Required;
    GET "/agent/identities/{agentUid}" "get_agent_identity" Required;
    PUT "/agent/identities/{agentUid}" "update_agent_identity" Required;
    DELETE "/agent/identities/{agentUid}" "delete_agent_identity" Required;
    POST "/agent/messages" "send_agent_message" Required;
    GET "/agent/messages/{runId}" "list_agent_messages" Required;
    POST "/agent/messages/{messageId}/read" "read_agent_message" Required;
    POST "/agent/messages/{messageId}/delivered" "mark_agent_message_delivered" Required;
    GET "/agent/events" "poll_agent_events" Required;
    POST "/agent/events/{runId}" "report_agent_event" Required;
    POST "/agent/runs/{runId}/interrupt" "interrupt_run" Required;
    GET "/agent/runs/{runId}/harness-usage" "get_run_harness_usage" Required;
    POST "/agent/conversations/{conversationId}/interrupt" "interrupt_conversation" Required;
    POST "/agent/conversations/{conversationId}/followups" "submit_conversation_followup" Required;
    GET "/agent/conversations/{conversationId}/screenshots/{screenshotUid}/download" "download_conversation_screenshot" Required;
    GET "/factory" "list_factories" Required;
    GET "/factory/{factoryUid}" "get_factory" Required;
    POST "/factory/{factoryUid}/runs" "create_factory_run" Required;
    GET "/factory/{factoryUid}/tasks" "list_factory_tasks" Required;
    POST "/factory/{factoryUid}/tasks" "create_factory_task" Required;
    GET "/factory/{factoryUid}/tasks/{taskUid}" "get_factory_task" Required;
    PATCH "/factory/{factoryUid}/tasks/{taskUid}" "update_factory_task" Required;
    DELETE "/factory/{factoryUid}/tasks/{taskUid}" "delete_factory_task" Required;
    POST "/factory/{factoryUid}/tasks/{taskUid}/cancel" "cancel_factory_task" Required;
    GET "/factory/{factoryUid}/task-by-run" "get_factory_task_by_run" Required;
    GET "/factory/{factoryUid}/task-by-conversation" "get_factory_task_by_conversation" Required;
    GET "/factory-files/schemas" "list_factory_file_schemas" Public;
    GET "/factory-files/schemas/{schemaVersion}" "get_factory_file_schema" Public;
    GET "/factory-files/schemas/{schemaVersion}/{document}" "get_factory_file_schema_document" Public;
    POST "/factory-files/validate" "validate_factory_files" Public;
    GET "/networking/egress-ranges" "list_egress_ranges" Required;
};

/// The operation a request is for, if any. HEAD requests match GET operations.
pub(crate) fn resolve(method: &Method, path: &str) -> Option<&'static Operation> {
    let rest = path.strip_prefix(API_PREFIX)?;
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    OPERATIONS
        .iter()
        .find(|op| op.method == *method && template_matches(op.template, rest))
}

fn template_matches(template: &str, path: &str) -> bool {
    let mut wanted = template.split('/');
    let mut given = path.split('/');
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w.starts_with('{') => {
                if g.is_empty() {
                    return false;
                }
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_templates_and_methods() {
        let op = resolve(&Method::GET, "/api/v1/agent/runs/abc").map(|o| o.id);
        assert_eq!(op, Some("get_run"));
        let op = resolve(&Method::POST, "/api/v1/agent/runs").map(|o| o.id);
        assert_eq!(op, Some("create_run"));
        assert!(resolve(&Method::GET, "/api/v1/agent/runs//cancel").is_none());
        assert!(resolve(&Method::GET, "/agent/runs").is_none());
        let op = resolve(&Method::PATCH, "/api/v1/factory/f1/tasks/t1").map(|o| (o.id, o.auth));
        assert_eq!(op, Some(("update_factory_task", Auth::Required)));
        let op = resolve(
            &Method::GET,
            "/api/v1/factory-files/schemas/v1alpha1/agent.schema.json",
        )
        .map(|o| (o.id, o.auth));
        assert_eq!(op, Some(("get_factory_file_schema_document", Auth::Public)));
        let op = resolve(&Method::GET, "/api/v1/factory/f1/task-by-run").map(|o| o.id);
        assert_eq!(op, Some("get_factory_task_by_run"));
    }
}
