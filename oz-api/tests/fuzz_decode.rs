//! Property tests of decoding: arbitrary and mutated JSON fed to the response types and to the
//! error classifier. Nothing may panic; values this version does not know (enum values, extra
//! members) are accepted and kept; everything else fails with a clear error.
//!
//! Each property starts from valid bodies of every response type (the seeds below, plus the
//! reference payloads in `../shared/reference/payloads` beside the checkout when that folder
//! exists) and mutates them. The case counts are small so the suite stays fast, and the seed is
//! fixed so that it is repeatable (see [`config`] for exploring with other seeds); `fuzz/` runs
//! the same decoding under cargo-fuzz for as long as one wants.

mod common;

use std::sync::OnceLock;
use std::time::Duration;

use oz_api::types;
use oz_api::{Error, ResponseValue};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// How a mutated body fared: decoded, or refused with serde's message.
type Outcome = Result<Value, String>;

/// One response type: how to decode it, valid bodies, and the paths of its enum members.
struct Target {
    name: &'static str,
    decode: fn(&[u8]) -> Outcome,
    seeds: Vec<Value>,
    enum_paths: &'static [&'static [&'static str]],
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Decodes `bytes` as `T` and checks that the value survives a second trip through JSON
/// unchanged (what the SDK decodes, it can send back and decode again).
fn decode<T: DeserializeOwned + Serialize>(bytes: &[u8]) -> Outcome {
    let value: T = serde_json::from_slice(bytes).map_err(|err| err.to_string())?;
    let first = serde_json::to_value(&value).expect("a decoded value serialises");
    let again: T = serde_json::from_value(first.clone())
        .unwrap_or_else(|err| panic!("re-decoding {first} failed: {err}"));
    let second = serde_json::to_value(&again).expect("a decoded value serialises");
    assert_eq!(first, second, "the value changed on a second round trip");
    Ok(first)
}

fn run_item() -> Value {
    json!({
        "run_id": "4f3c2a7e-1111-4aaa-8bbb-000000000001",
        "task_id": "4f3c2a7e-1111-4aaa-8bbb-000000000001",
        "title": "Fix the flaky integration test",
        "state": "INPROGRESS",
        "prompt": "Fix the flaky test in ci.yml",
        "created_at": "2025-03-14T09:26:53Z",
        "updated_at": "2025-03-14T09:31:07.250Z",
        "started_at": "2025-03-14T09:27:00Z",
        "source": "API",
        "execution_location": "REMOTE",
        "session_link": "https://app.warp.dev/session/1",
        "status_message": {"message": "working", "error_code": "insufficient_credits", "retryable": true},
        "request_usage": {"inference_cost": 1.5, "compute_cost": 2},
        "agent_config": {"name": "ci-bot", "model_id": "auto", "computer_use_enabled": false},
        "artifacts": [plan_artifact(), pull_request_artifact()]
    })
}

fn plan_artifact() -> Value {
    json!({
        "artifact_type": "PLAN",
        "created_at": "2025-03-14T09:30:00Z",
        "data": {"document_uid": "doc-1", "title": "Plan", "url": "https://app.warp.dev/drive/doc-1"}
    })
}

fn pull_request_artifact() -> Value {
    json!({
        "artifact_type": "PULL_REQUEST",
        "created_at": "2025-03-14T09:31:00Z",
        "data": {"branch": "oz/fix-flaky-test", "url": "https://github.com/acme/app/pull/7"}
    })
}

fn file_artifact() -> Value {
    json!({
        "artifact_type": "FILE",
        "created_at": "2025-03-14T09:31:00Z",
        "data": {
            "artifact_uid": "a1b2c3d4", "filename": "report.md", "filepath": "out/report.md",
            "mime_type": "text/markdown", "size_bytes": 2048, "description": "test report"
        }
    })
}

fn screenshot_artifact() -> Value {
    json!({
        "artifact_type": "SCREENSHOT",
        "created_at": "2025-03-14T09:31:00Z",
        "data": {"artifact_uid": "s1", "mime_type": "image/png", "description": "the page"}
    })
}

fn external_artifact() -> Value {
    json!({
        "artifact_type": "EXTERNAL_REFERENCE",
        "created_at": "2025-03-14T09:31:00Z",
        "data": {"reference_type": "LINEAR_ISSUE", "url": "https://linear.app/acme/issue/ENG-1", "metadata": {"key": "ENG-1"}}
    })
}

/// The members of [`problem`], which properties replace with arbitrary JSON.
const PROBLEM_MEMBERS: &[&str] = &[
    "type",
    "title",
    "status",
    "detail",
    "error",
    "instance",
    "retryable",
    "trace_id",
];

fn problem() -> Value {
    json!({
        "type": "https://docs.warp.dev/reference/api-and-sdk/troubleshooting/errors/insufficient-credits",
        "title": "Insufficient credits",
        "status": 402,
        "detail": "the team has no credits left",
        "error": "Insufficient credits (the team has no credits left)",
        "instance": "/api/v1/agent/runs",
        "retryable": false,
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"
    })
}

fn targets() -> &'static [Target] {
    static TARGETS: OnceLock<Vec<Target>> = OnceLock::new();
    TARGETS.get_or_init(|| {
        let mut targets = vec![
            Target {
                name: "RunItem",
                decode: decode::<types::RunItem>,
                seeds: vec![run_item()],
                enum_paths: &[
                    &["state"],
                    &["source"],
                    &["execution_location"],
                    &["status_message", "error_code"],
                ],
            },
            Target {
                name: "ListRunsResponse",
                decode: decode::<types::ListRunsResponse>,
                seeds: vec![json!({
                    "runs": [run_item(), {
                        "run_id": "r2", "task_id": "r2", "title": "t", "state": "QUEUED", "prompt": "p",
                        "created_at": "2025-03-14T09:26:53Z", "updated_at": "2025-03-14T09:26:53Z"
                    }],
                    "page_info": {"has_next_page": true, "next_cursor": "c2"}
                })],
                enum_paths: &[&["runs", "0", "state"], &["runs", "1", "source"]],
            },
            Target {
                name: "ArtifactItem",
                decode: decode::<types::ArtifactItem>,
                seeds: vec![
                    plan_artifact(),
                    pull_request_artifact(),
                    file_artifact(),
                    screenshot_artifact(),
                    external_artifact(),
                ],
                enum_paths: &[&["artifact_type"], &["data", "reference_type"]],
            },
            Target {
                name: "ArtifactResponse",
                decode: decode::<types::ArtifactResponse>,
                seeds: vec![json!({
                    "artifact_type": "FILE",
                    "artifact_uid": "a1b2c3d4",
                    "created_at": "2025-03-14T09:31:00Z",
                    "data": {
                        "content_type": "text/markdown", "filename": "report.md",
                        "download_url": "https://storage.example/a/report.md?sig=abc",
                        "expires_at": "2025-03-14T09:46:00Z"
                    },
                    "source_links": {
                        "run_url": "https://app.warp.dev/runs/r1",
                        "pull_request_urls": ["https://github.com/acme/app/pull/7"]
                    }
                })],
                enum_paths: &[&["artifact_type"]],
            },
            Target {
                name: "Error",
                decode: decode::<types::Error>,
                seeds: vec![problem(), json!({"error": "legacy shape"})],
                enum_paths: &[],
            },
            Target {
                name: "ScheduledAgentItem",
                decode: decode::<types::ScheduledAgentItem>,
                seeds: vec![json!({
                    "id": "sched-1", "name": "nightly", "cron_schedule": "0 3 * * *",
                    "enabled": true, "prompt": "Update dependencies",
                    "created_at": "2025-03-14T09:26:53Z", "updated_at": "2025-03-14T09:26:53Z",
                    "last_spawn_error": "none", "history": {"last_ran": "2025-03-14T03:00:00Z"}
                })],
                enum_paths: &[],
            },
            Target {
                name: "AgentResponse",
                decode: decode::<types::AgentResponse>,
                seeds: vec![json!({
                    "uid": "agent-1", "name": "ci-bot", "available": true,
                    "created_at": "2025-03-14T09:26:53Z", "updated_at": "2025-03-14T09:26:53Z",
                    "default_runner_uid": "runner-1", "mcp_servers": {}, "skills": ["rust"],
                    "secrets": [{"name": "GITHUB_TOKEN"}],
                    "memory": {"attached_stores": [], "auto_memory": {"enabled": false}}
                })],
                enum_paths: &[],
            },
            Target {
                name: "AgentRunEvent",
                decode: decode::<types::AgentRunEvent>,
                seeds: vec![json!({
                    "event_type": "run_in_progress", "run_id": "r1", "ref_id": null,
                    "execution_id": null, "occurred_at": "2026-01-01T00:00:00Z", "sequence": 7
                })],
                enum_paths: &[&["event_type"]],
            },
        ];
        add_reference_payloads(&mut targets);
        targets
    })
}

/// Adds the reference payloads of `../shared/reference/payloads` beside the checkout (named `<Type>--*.json`) as
/// seeds when the folder exists; without it the embedded seeds are used alone.
fn add_reference_payloads(targets: &mut [Target]) {
    let folder =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/payloads");
    let Ok(entries) = std::fs::read_dir(&folder) else {
        eprintln!(
            "skipped: {} is absent; using the embedded seeds only",
            folder.display()
        );
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((type_name, _)) = name.split_once("--") else {
            continue;
        };
        let Some(target) = targets.iter_mut().find(|t| t.name == type_name) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        if let Ok(value) = serde_json::from_str::<Value>(&text)
            && (target.decode)(text.as_bytes()).is_ok()
        {
            target.seeds.push(value);
        }
    }
}

/// Members whose object is a map of the user's own keys to typed values: a foreign key there is
/// an entry, not an extra member.
const MAP_MEMBERS: &[&str] = &["mcp_servers", "env", "headers", "harness_auth_secrets"];

/// Paths of every object (`objects`) and every node (`all`) in `value`.
fn paths(
    value: &Value,
    prefix: &mut Vec<String>,
    objects: &mut Vec<Vec<String>>,
    all: &mut Vec<Vec<String>>,
) {
    all.push(prefix.clone());
    match value {
        Value::Object(map) => {
            if prefix
                .last()
                .is_none_or(|key| !MAP_MEMBERS.contains(&key.as_str()))
            {
                objects.push(prefix.clone());
            }
            for (key, child) in map {
                prefix.push(key.clone());
                paths(child, prefix, objects, all);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                prefix.push(index.to_string());
                paths(child, prefix, objects, all);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn node_mut<'a>(value: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter().try_fold(value, |node, key| match node {
        Value::Object(map) => map.get_mut(key),
        Value::Array(items) => items.get_mut(key.parse::<usize>().ok()?),
        _ => None,
    })
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A target, one of its seeds, and a number to pick a node of it with.
fn seed() -> impl Strategy<Value = (&'static Target, Value, usize)> {
    seed_of(targets().iter().collect())
}

/// [`seed`] among the targets that have enum members.
fn seed_with_enums() -> impl Strategy<Value = (&'static Target, Value, usize)> {
    seed_of(
        targets()
            .iter()
            .filter(|target| !target.enum_paths.is_empty())
            .collect(),
    )
}

fn seed_of(
    targets: Vec<&'static Target>,
) -> impl Strategy<Value = (&'static Target, Value, usize)> {
    (0..targets.len(), any::<usize>(), any::<usize>()).prop_map(move |(t, s, pick)| {
        let target = targets[t];
        (target, target.seeds[s % target.seeds.len()].clone(), pick)
    })
}

/// The seed every property starts from unless `PROPTEST_RNG_SEED` names another.
const SEED: u64 = 0x6f7a_5f66_757a_7a31;

/// A property's configuration: `cases` cases from a fixed seed, so that every run of the suite
/// tries the same inputs and a failure seen once is seen again. To explore further, set
/// `PROPTEST_RNG_SEED` (any u64) and `PROPTEST_CASES`, e.g.
/// `PROPTEST_RNG_SEED=$RANDOM PROPTEST_CASES=4000 cargo test -p oz-api --test fuzz_decode`;
/// a failure prints its minimal input, which belongs in a unit test beside the code it breaks.
fn config(cases: u32) -> Config {
    let from_env = Config::default();
    Config {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            from_env.cases
        } else {
            cases
        },
        rng_seed: match from_env.rng_seed {
            RngSeed::Random => RngSeed::Fixed(SEED),
            seed => seed,
        },
        failure_persistence: None,
        ..from_env
    }
}

#[test]
fn every_seed_decodes() {
    for target in targets() {
        for seed in &target.seeds {
            let bytes = serde_json::to_vec(seed).unwrap();
            if let Err(err) = (target.decode)(&bytes) {
                panic!("{} seed {seed} does not decode: {err}", target.name);
            }
        }
    }
}

proptest! {
    #![proptest_config(config(192))]

    /// A member this version does not know, anywhere in a body, is ignored.
    #[test]
    fn extra_members_anywhere_are_accepted(
        (target, mut body, pick) in seed(),
        key in "x_[a-z0-9_]{1,12}",
        extra in arbitrary_json(),
    ) {
        let (mut objects, mut all) = (Vec::new(), Vec::new());
        paths(&body, &mut Vec::new(), &mut objects, &mut all);
        let path = &objects[pick % objects.len()];
        if let Some(Value::Object(map)) = node_mut(&mut body, path) {
            map.insert(key, extra);
        }
        let bytes = serde_json::to_vec(&body).unwrap();
        if let Err(err) = (target.decode)(&bytes) {
            panic!("{} with an extra member at {path:?} was refused: {err}\n{body}", target.name);
        }
    }

    /// An enum value this version does not know decodes, and is sent back exactly as received.
    #[test]
    fn unknown_enum_values_are_accepted_and_kept(
        (target, mut body, pick) in seed_with_enums(),
        value in "[A-Z][A-Z_]{0,15}|[a-z][a-z_]{0,15}",
    ) {
        let path: Vec<String> = target.enum_paths[pick % target.enum_paths.len()]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let Some(node) = node_mut(&mut body, &path) else {
            // This seed does not have the member.
            return Ok(());
        };
        *node = Value::String(value.clone());
        let bytes = serde_json::to_vec(&body).unwrap();
        match (target.decode)(&bytes) {
            Ok(mut decoded) => {
                let kept = node_mut(&mut decoded, &path).cloned();
                prop_assert_eq!(kept, Some(Value::String(value)), "{} at {:?}", target.name, path);
            }
            Err(err) => panic!("{} with {value:?} at {path:?} was refused: {err}", target.name),
        }
    }

    /// Removing a member either leaves a valid body or fails with an error naming the member.
    #[test]
    fn a_missing_member_is_accepted_or_named(
        (target, mut body, pick) in seed(),
    ) {
        let (mut objects, mut all) = (Vec::new(), Vec::new());
        paths(&body, &mut Vec::new(), &mut objects, &mut all);
        let path = &objects[pick % objects.len()];
        let Some(Value::Object(map)) = node_mut(&mut body, path) else {
            return Ok(());
        };
        let Some(key) = map.keys().nth(pick % map.len().max(1)).cloned() else {
            return Ok(());
        };
        map.remove(&key);
        let bytes = serde_json::to_vec(&body).unwrap();
        if let Err(err) = (target.decode)(&bytes) {
            // Discriminated unions report that no variant matched instead.
            prop_assert!(
                err.contains(&format!("`{key}`")) || err.contains("variant") || err.contains("untagged"),
                "{} without {:?} at {:?}: {}", target.name, key, path, err
            );
        }
    }

    /// Any node replaced by any JSON value: decoded or refused, never a panic.
    #[test]
    fn wrong_types_anywhere_never_panic(
        (target, mut body, pick) in seed(),
        replacement in arbitrary_json(),
    ) {
        let (mut objects, mut all) = (Vec::new(), Vec::new());
        paths(&body, &mut Vec::new(), &mut objects, &mut all);
        if let Some(node) = node_mut(&mut body, &all[pick % all.len()]) {
            *node = replacement;
        }
        let _ = (target.decode)(&serde_json::to_vec(&body).unwrap());
    }

    /// Bodies cut short, with flipped bytes, or made of arbitrary bytes: never a panic.
    #[test]
    fn damaged_and_arbitrary_bytes_never_panic(
        (target, body, pick) in seed(),
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        noise in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = serde_json::to_vec(&body).unwrap();
        let _ = (target.decode)(&bytes[..pick % (bytes.len() + 1)]);
        for (at, byte) in flips {
            let len = bytes.len();
            bytes[at % len] = byte;
        }
        let _ = (target.decode)(&bytes);
        let _ = (target.decode)(&noise);
    }
}

/// Header values a server or proxy might send, well-formed or not.
fn header_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,4}",
        "-?[0-9]{1,3}\\.[0-9]{1,3}",
        "(true|false|TRUE|1|yes)",
        "00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]",
        "[0-9a-f]{8}/[0-9]{1,6};o=1",
        "(Mon|Fri), [0-9]{2} (Jan|Mar) 20[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT",
        "[ -~]{0,40}",
    ]
}

fn headers(pairs: &[(&'static str, Option<String>)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let Some(value) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            map.insert(HeaderName::from_static(name), value);
        }
    }
    map
}

/// Every question [`Error`]'s methods answer, asked of `err`; checks the answers are coherent.
fn classify(err: &Error, status: StatusCode) {
    assert_eq!(err.status(), Some(status));
    assert_eq!(
        err.is_rate_limited(),
        status == StatusCode::TOO_MANY_REQUESTS
    );
    if let Some(delay) = err.retry_after() {
        assert!(
            !delay.is_zero() && delay <= Duration::from_secs(60),
            "{delay:?}"
        );
    }
    let _ = (
        err.error_code(),
        err.message(),
        err.is_not_found(),
        err.is_transient(),
    );
    let _ = (
        err.trace_id(),
        err.request_id(),
        err.problem(),
        err.response_headers(),
    );
    let line = err.to_string();
    // One line, without terminal escapes or other control characters from the server.
    assert!(!line.chars().any(char::is_control), "{line:?}");
    let _ = format!("{err:?}");
}

proptest! {
    #![proptest_config(config(256))]

    /// Error answers built from any status, headers and (mutated) problem body classify without
    /// panicking, coherently with their status.
    #[test]
    fn the_classifier_accepts_any_status_headers_and_problem(
        status in 100u16..=999,
        retry_after in prop::option::of(header_text()),
        retry_after_ms in prop::option::of(header_text()),
        should_retry in prop::option::of(header_text()),
        trace in prop::option::of(header_text()),
        cloud_trace in prop::option::of(header_text()),
        traceparent in prop::option::of(header_text()),
        request_id in prop::option::of(header_text()),
        member in prop::sample::select(PROBLEM_MEMBERS),
        replacement in arbitrary_json(),
    ) {
        let status = StatusCode::from_u16(status).unwrap();
        let headers = headers(&[
            ("retry-after", retry_after),
            ("retry-after-ms", retry_after_ms),
            ("x-should-retry", should_retry),
            ("x-trace-id", trace),
            ("x-cloud-trace-context", cloud_trace),
            ("traceparent", traceparent),
            ("x-request-id", request_id),
        ]);
        let mut body = problem();
        body[member] = replacement;
        let problem: types::Error = serde_json::from_value(body).unwrap_or_default();

        let err = Error::Problem(ResponseValue::new(problem, status, headers.clone()));
        classify(&err, status);

        let mut answer = http::Response::new(reqwest::Body::from("undocumented"));
        *answer.status_mut() = status;
        *answer.headers_mut() = headers;
        let err = Error::UnexpectedResponse(reqwest::Response::from(answer));
        classify(&err, status);
    }
}

/// A runtime shared by the cases of the property below.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    })
}

proptest! {
    #![proptest_config(config(48))]

    /// Any error status with any body, served by a real server: the client always returns an
    /// error answer with that status, and its Display is one bounded line.
    #[test]
    fn any_error_answer_from_a_server_keeps_its_status(
        status in 400u16..600,
        content_type in prop::sample::select(vec!["application/json", "application/problem+json", "text/html", "text/plain", "application/octet-stream"]),
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            arbitrary_json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
            (any::<usize>(), arbitrary_json()).prop_map(|(cut, v)| {
                let mut body = problem();
                body["detail"] = v;
                let bytes = serde_json::to_vec(&body).unwrap();
                bytes[..cut % (bytes.len() + 1)].to_vec()
            }),
            (prop::sample::select(PROBLEM_MEMBERS), arbitrary_json()).prop_map(|(member, v)| {
                let mut body = problem();
                body[member] = v;
                serde_json::to_vec(&body).unwrap()
            }),
        ],
    ) {
        let status = StatusCode::from_u16(status).unwrap();
        let err = runtime().block_on(async {
            let server = wiremock::MockServer::start().await;
            wiremock::Mock::given(wiremock::matchers::any())
                .respond_with(
                    wiremock::ResponseTemplate::new(status.as_u16())
                        .set_body_raw(body.clone(), content_type),
                )
                .mount(&server)
                .await;
            let client = common::client_without_retries(&server);
            client.get_run().run_id("run_1").send().await.unwrap_err()
        });
        prop_assert!(matches!(err, Error::Problem(_)), "{err}");
        classify(&err, status);
        let line = err.to_string();
        // Status, code, a message of at most the body excerpt, and a trace id.
        prop_assert!(line.chars().count() < 1200, "{}", line);
    }
}

/// A decoder of one type, as [`decode`] makes them.
type Decode = fn(&[u8]) -> Outcome;

/// Every response type of openapi.json (success bodies of every operation, array items, the
/// problem body), with its decoder. Checked against the spec by
/// [`optional_members_set_to_null_decode_as_absent_in_every_response_type`].
const RESPONSE_TYPES: &[(&str, Decode)] = &[
    ("AgentMessage", decode::<types::AgentMessage>),
    ("AgentMessageHeader", decode::<types::AgentMessageHeader>),
    ("AgentResponse", decode::<types::AgentResponse>),
    ("AgentRunEvent", decode::<types::AgentRunEvent>),
    ("ArtifactResponse", decode::<types::ArtifactResponse>),
    (
        "ConversationRedirectResponse",
        decode::<types::ConversationRedirectResponse>,
    ),
    (
        "ConversationResponse",
        decode::<types::ConversationResponse>,
    ),
    (
        "CreateFactoryRunResponse",
        decode::<types::CreateFactoryRunResponse>,
    ),
    (
        "DeleteScheduledAgentResponse",
        decode::<types::DeleteScheduledAgentResponse>,
    ),
    (
        "EgressRangesResponse",
        decode::<types::EgressRangesResponse>,
    ),
    ("Error", decode::<types::Error>),
    ("Factory", decode::<types::Factory>),
    (
        "FactoryFileSchemaBundle",
        decode::<types::FactoryFileSchemaBundle>,
    ),
    (
        "FactoryFileSchemaDocument",
        decode::<types::FactoryFileSchemaDocument>,
    ),
    ("FactoryTask", decode::<types::FactoryTask>),
    (
        "GetRunTimelineResponse",
        decode::<types::GetRunTimelineResponse>,
    ),
    (
        "HarnessUsageResponse",
        decode::<types::HarnessUsageResponse>,
    ),
    (
        "InterruptConversationResponse",
        decode::<types::InterruptConversationResponse>,
    ),
    (
        "InterruptRunResponse",
        decode::<types::InterruptRunResponse>,
    ),
    (
        "ListAgentIdentitiesResponse",
        decode::<types::ListAgentIdentitiesResponse>,
    ),
    ("ListAgentsResponse", decode::<types::ListAgentsResponse>),
    (
        "ListConnectedSelfHostedWorkersResponse",
        decode::<types::ListConnectedSelfHostedWorkersResponse>,
    ),
    (
        "ListEnvironmentsResponse",
        decode::<types::ListEnvironmentsResponse>,
    ),
    (
        "ListFactoriesResponse",
        decode::<types::ListFactoriesResponse>,
    ),
    (
        "ListFactoryFileSchemasResponse",
        decode::<types::ListFactoryFileSchemasResponse>,
    ),
    (
        "ListFactoryTasksResponse",
        decode::<types::ListFactoryTasksResponse>,
    ),
    (
        "ListHandoffAttachmentsResponse",
        decode::<types::ListHandoffAttachmentsResponse>,
    ),
    ("ListModelsResponse", decode::<types::ListModelsResponse>),
    ("ListRunsResponse", decode::<types::ListRunsResponse>),
    (
        "ListScheduledAgentsResponse",
        decode::<types::ListScheduledAgentsResponse>,
    ),
    (
        "ReportAgentEventResponse",
        decode::<types::ReportAgentEventResponse>,
    ),
    (
        "ReportRunScoresResponse",
        decode::<types::ReportRunScoresResponse>,
    ),
    ("RunAgentResponse", decode::<types::RunAgentResponse>),
    (
        "RunByExternalReferenceResponse",
        decode::<types::RunByExternalReferenceResponse>,
    ),
    ("RunFollowupResponse", decode::<types::RunFollowupResponse>),
    ("RunItem", decode::<types::RunItem>),
    ("ScheduledAgentItem", decode::<types::ScheduledAgentItem>),
    (
        "SendAgentMessageResponse",
        decode::<types::SendAgentMessageResponse>,
    ),
    (
        "SessionRedirectResponse",
        decode::<types::SessionRedirectResponse>,
    ),
    (
        "ValidateFactoryFilesResponse",
        decode::<types::ValidateFactoryFilesResponse>,
    ),
];

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    })
}

/// `schema` with its `$ref`s followed, and the name of the last component named.
fn resolve(schema: &'static Value) -> (Option<&'static str>, &'static Value) {
    let mut schema = schema;
    let mut name = None;
    while let Some(reference) = schema["$ref"].as_str() {
        let component = reference.trim_start_matches("#/components/schemas/");
        name = Some(component);
        schema = &spec()["components"]["schemas"][component];
    }
    (name, schema)
}

/// The component name of every JSON body an operation answers with (array items for arrays).
fn response_types_from_spec() -> std::collections::BTreeSet<&'static str> {
    let mut names = std::collections::BTreeSet::new();
    for item in spec()["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            for (_, response) in operation["responses"].as_object().into_iter().flatten() {
                let response = match response["$ref"].as_str() {
                    Some(reference) => spec()
                        .pointer(reference.trim_start_matches('#'))
                        .expect("a resolvable response"),
                    None => response,
                };
                for content in response["content"].as_object().into_iter().flatten() {
                    let schema = &content.1["schema"];
                    let (name, resolved) = resolve(schema);
                    let name = match name {
                        Some(name) => Some(name),
                        None => resolve(&resolved["items"]).0,
                    };
                    names.extend(name);
                }
            }
        }
    }
    names
}

/// The response type of each operation's success body, by operation id.
fn success_type_by_operation() -> std::collections::BTreeMap<&'static str, &'static str> {
    let mut types = std::collections::BTreeMap::new();
    for item in spec()["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            let Some(id) = operation["operationId"].as_str() else {
                continue;
            };
            for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                if !status.starts_with('2') {
                    continue;
                }
                for (_, content) in response["content"].as_object().into_iter().flatten() {
                    let (name, resolved) = resolve(&content["schema"]);
                    if let Some(name) = name.or_else(|| resolve(&resolved["items"]).0) {
                        types.insert(id, name);
                    }
                }
            }
        }
    }
    types
}

/// Valid bodies of `name`: the seeds above, and the success bodies of the recorded exchanges
/// in `tests/fixtures` (each item of an array body).
fn valid_bodies(name: &str) -> Vec<Value> {
    let mut bodies: Vec<Value> = targets()
        .iter()
        .filter(|target| target.name == name)
        .flat_map(|target| target.seeds.clone())
        .collect();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    for (operation, type_name) in success_type_by_operation() {
        if type_name != name {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(fixtures.join(operation)) else {
            continue;
        };
        let mut files: Vec<_> = entries.flatten().map(|entry| entry.path()).collect();
        files.sort();
        for file in files {
            let exchange: Value =
                serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
            let status = exchange["response"]["status"].as_u64().unwrap_or(0);
            if !(200..300).contains(&status) {
                continue;
            }
            match &exchange["response"]["body"] {
                Value::Array(items) => bodies.extend(items.iter().cloned()),
                Value::Object(_) => bodies.push(exchange["response"]["body"].clone()),
                _ => {}
            }
        }
    }
    if name == "Error" {
        bodies.push(problem());
    }
    bodies
}

/// An optional member of an object in a body: the path of the object, the member's name, and
/// the schema (component name or the inline object's path) it belongs to.
#[derive(Debug, Clone)]
struct OptionalMember {
    object: Vec<String>,
    member: String,
    owner: String,
    collection: bool,
}

/// Collects the optional members of every object of `body`, following `schema`.
fn optional_members(
    body: &Value,
    schema: &'static Value,
    owner: &str,
    path: &mut Vec<String>,
    out: &mut Vec<OptionalMember>,
) {
    let (name, schema) = resolve(schema);
    let owner = name.map_or_else(|| owner.to_owned(), str::to_owned);
    if let Some(parts) = schema["allOf"].as_array() {
        for part in parts {
            optional_members(body, part, &owner, path, out);
        }
    }
    if let Some(variants) = schema["oneOf"].as_array() {
        let tag = schema["discriminator"]["propertyName"].as_str();
        for variant in variants {
            let (_, resolved) = resolve(variant);
            let selected = match tag {
                Some(tag) => {
                    let values = &resolved["properties"][tag]["enum"];
                    values
                        .as_array()
                        .is_some_and(|values| values.contains(&body[tag]))
                        || mapping_selects(schema, variant, &body[tag])
                }
                None => true,
            };
            if selected {
                optional_members(body, variant, &owner, path, out);
            }
        }
    }
    match body {
        Value::Object(map) => {
            if let Some(properties) = schema["properties"].as_object() {
                let required: Vec<&str> = schema["required"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                for (member, member_schema) in properties {
                    let (_, resolved_member) = resolve(member_schema);
                    if !required.contains(&member.as_str()) {
                        out.push(OptionalMember {
                            object: path.clone(),
                            member: member.clone(),
                            owner: owner.clone(),
                            collection: resolved_member["type"] == "array"
                                || (resolved_member["type"] == "object"
                                    && resolved_member["properties"].is_null()),
                        });
                    }
                    if let Some(child) = map.get(member) {
                        path.push(member.clone());
                        optional_members(
                            child,
                            member_schema,
                            &format!("{owner}.{member}"),
                            path,
                            out,
                        );
                        path.pop();
                    }
                }
            }
            if schema["additionalProperties"].is_object() {
                for (key, child) in map {
                    if schema["properties"].get(key).is_some() {
                        continue;
                    }
                    path.push(key.clone());
                    optional_members(
                        child,
                        &schema["additionalProperties"],
                        &format!("{owner}.*"),
                        path,
                        out,
                    );
                    path.pop();
                }
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                path.push(index.to_string());
                optional_members(child, &schema["items"], &format!("{owner}[]"), path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn mapping_selects(union: &Value, variant: &Value, tag: &Value) -> bool {
    let (Some(reference), Some(tag)) = (variant["$ref"].as_str(), tag.as_str()) else {
        return false;
    };
    union["discriminator"]["mapping"][tag].as_str() == Some(reference)
}

/// The components a response body can contain: the response types and every schema they
/// name, at any depth.
fn reachable_from_responses() -> std::collections::BTreeSet<&'static str> {
    fn visit(node: &'static Value, seen: &mut std::collections::BTreeSet<&'static str>) {
        match node {
            Value::Object(map) => {
                if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                    let name = reference.trim_start_matches("#/components/schemas/");
                    if seen.insert(name) {
                        visit(&spec()["components"]["schemas"][name], seen);
                    }
                }
                for child in map.values() {
                    visit(child, seen);
                }
            }
            Value::Array(items) => items.iter().for_each(|child| visit(child, seen)),
            _ => {}
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for name in response_types_from_spec() {
        if seen.insert(name) {
            visit(&spec()["components"]["schemas"][name], &mut seen);
        }
    }
    seen
}

/// Every optional list or map member of the components a response can contain
/// (`Component.member`): what the test below must reach.
fn optional_collections_in_responses() -> std::collections::BTreeSet<String> {
    let mut all = std::collections::BTreeSet::new();
    for name in reachable_from_responses() {
        let schema = &spec()["components"]["schemas"][name];
        let required: Vec<&Value> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .collect();
        for (member, member_schema) in schema["properties"].as_object().into_iter().flatten() {
            let (_, resolved) = resolve(member_schema);
            let collection = resolved["type"] == "array"
                || (resolved["type"] == "object" && resolved["properties"].is_null());
            if collection && !required.contains(&&Value::String(member.clone())) {
                all.insert(format!("{name}.{member}"));
            }
        }
    }
    all
}

/// `null` for any optional member, in any response type, decodes as if the member were absent:
/// many backends write `null` for an empty list or map. Every optional member of every object
/// of every valid body (from the seeds and the recorded exchanges) is set to `null` in turn.
#[test]
fn optional_members_set_to_null_decode_as_absent_in_every_response_type() {
    let table: std::collections::BTreeSet<&str> =
        RESPONSE_TYPES.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        table,
        response_types_from_spec(),
        "RESPONSE_TYPES must list every response type of openapi.json"
    );
    let mut reached = std::collections::BTreeSet::new();
    let mut checked = 0;
    for (name, decode) in RESPONSE_TYPES {
        let bodies = valid_bodies(name);
        assert!(!bodies.is_empty(), "no valid body of {name}");
        let schema = &spec()["components"]["schemas"][*name];
        for body in bodies {
            let mut members = Vec::new();
            optional_members(&body, schema, name, &mut Vec::new(), &mut members);
            assert!(
                decode(&serde_json::to_vec(&body).unwrap()).is_ok(),
                "{name}: {body}"
            );
            for OptionalMember {
                object,
                member,
                owner,
                collection,
            } in members
            {
                let mut with_null = body.clone();
                let mut without = body.clone();
                let Some(Value::Object(map)) = node_mut(&mut with_null, &object) else {
                    continue;
                };
                map.insert(member.clone(), Value::Null);
                if let Some(Value::Object(map)) = node_mut(&mut without, &object) {
                    map.remove(&member);
                }
                let decoded = decode(&serde_json::to_vec(&with_null).unwrap())
                    .unwrap_or_else(|err| panic!("{name}: {member} = null at {object:?}: {err}"));
                let expected = decode(&serde_json::to_vec(&without).unwrap())
                    .unwrap_or_else(|err| panic!("{name} without {member} at {object:?}: {err}"));
                assert_eq!(decoded, expected, "{name}: {member} = null at {object:?}");
                if collection {
                    reached.insert(format!("{owner}.{member}"));
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 200, "{checked}");
    let missing: Vec<_> = optional_collections_in_responses()
        .into_iter()
        .filter(|member| !reached.contains(member))
        .collect();
    assert!(
        missing.is_empty(),
        "optional lists and maps no valid body reaches (add a seed that has their object): \
         {missing:?}"
    );
}

/// The kinds of run events the service emits (api-facts 10.2) decode to named variants, and
/// print as their wire value; a kind this version does not know is kept.
#[test]
fn every_known_event_type_has_its_own_variant() {
    use types::AgentRunEventType as Kind;
    let known = [
        ("run_in_progress", Kind::RunInProgress),
        ("run_succeeded", Kind::RunSucceeded),
        ("run_failed", Kind::RunFailed),
        ("run_errored", Kind::RunErrored),
        ("run_cancelled", Kind::RunCancelled),
        ("run_blocked", Kind::RunBlocked),
        ("run_started", Kind::RunStarted),
        ("run_idle", Kind::RunIdle),
        ("run_restarted", Kind::RunRestarted),
        ("new_message", Kind::NewMessage),
        ("child_agent_started", Kind::ChildAgentStarted),
        ("run_session_linked", Kind::RunSessionLinked),
    ];
    for (wire, kind) in known {
        let event: types::AgentRunEvent = serde_json::from_value(json!({
            "event_type": wire, "run_id": "r1", "occurred_at": "2026-01-01T00:00:00Z",
            "sequence": 1
        }))
        .unwrap();
        assert_eq!(event.event_type, kind);
        assert_eq!(event.event_type.to_string(), wire);
    }
    // Everything a client may report is a kind of event too.
    let reportable = spec()["components"]["schemas"]["AgentEventType"]["enum"]
        .as_array()
        .unwrap();
    for value in reportable {
        let kind: Kind = serde_json::from_value(value.clone()).unwrap();
        assert!(!matches!(kind, Kind::Unknown(_)), "{value}");
    }
    let kind: Kind = serde_json::from_value(json!("run_paused")).unwrap();
    assert_eq!(kind, Kind::Unknown("run_paused".to_owned()));
    assert_eq!(serde_json::to_value(&kind).unwrap(), json!("run_paused"));
}
