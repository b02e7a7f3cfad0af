//! What runs consume: the `request_usage` of finished runs (credits, tokens per model and per
//! usage category) and the raw usage snapshots of Claude Code and Codex harness runs.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Phase, Run};
use crate::clock::rfc3339;

/// The model that served a run's inference (`auto` resolves to a concrete model).
fn served_model(run: &Run) -> &str {
    match run.model_id.as_deref() {
        None | Some("auto") => "claude-4-6-sonnet",
        Some(model) => model,
    }
}

/// Tokens (input, output, cache read, cache write) and their cost in cents, per usage category.
/// The categories add up to the run's `total_tokens` and `inference_cost_usd`.
const CATEGORIES: [(&str, [i64; 4], [f64; 4]); 2] = [
    (
        "primary_agent",
        [9_800, 3_150, 3_600, 400],
        [5.0, 4.5, 0.4, 0.6],
    ),
    (
        "conversation_compaction",
        [1_100, 292, 0, 0],
        [1.0, 0.5, 0.0, 0.0],
    ),
];

const TOTAL_TOKENS: i64 = 18_342;

/// `RequestUsage` of a finished run. Runs on a third-party harness have no per-model usage.
pub(crate) fn request_usage(run: &Run) -> Value {
    let mut usage = json!({
        "inference_cost": 12.0,
        "compute_cost": 3.0,
        "platform_cost": 0.0,
        "inference_cost_usd": 0.12,
        "compute_cost_usd": 0.03,
        "platform_cost_usd": 0.0,
        "total_tokens": TOTAL_TOKENS,
    });
    if !run.on_warp_harness() {
        return usage;
    }
    let model = served_model(run);
    let tokens_by_category: serde_json::Map<String, Value> = CATEGORIES
        .iter()
        .map(|(name, t, _)| ((*name).to_owned(), json!(t.iter().sum::<i64>())))
        .collect();
    usage["model_token_usage"] = json!([{
        "model_id": model,
        "usage_type": "warp",
        "total_tokens": TOTAL_TOKENS,
        "tokens_by_category": tokens_by_category,
    }]);
    let by_category: serde_json::Map<String, Value> = CATEGORIES
        .iter()
        .map(|(name, t, cents)| ((*name).to_owned(), category_detail(model, t, cents)))
        .collect();
    usage["usage_by_category"] = Value::Object(by_category);
    usage
}

/// One usage category. Costs are given in cents (newest SDKs) and in US dollars (the vendor's
/// published spec), which describe the same amounts.
fn category_detail(model: &str, tokens: &[i64; 4], cents: &[f64; 4]) -> Value {
    let [input, output, cache_read, cache_write] = *tokens;
    let [input_c, output_c, read_c, write_c] = *cents;
    let usd = |c: f64| (c / 100.0 * 1e6).round() / 1e6;
    let detail = json!({
        "token_count": {
            "input": input,
            "output": output,
            "input_cache_read": cache_read,
            "input_cache_write": cache_write,
        },
        "cost_in_cents": {
            "input_cost_in_cents": input_c,
            "output_cost_in_cents": output_c,
            "input_cache_read_cost_in_cents": read_c,
            "input_cache_write_cost_in_cents": write_c,
        },
        "cost_usd": {
            "input_cost_usd": usd(input_c),
            "output_cost_usd": usd(output_c),
            "input_cache_read_cost_usd": usd(read_c),
            "input_cache_write_cost_usd": usd(write_c),
        },
        "web_search_count": 0,
        "web_search_cost_in_cents": 0.0,
        "web_search_cost_usd": 0.0,
    });
    json!({
        "platform_usage_in_cents": 0.0,
        "platform_usage_usd": 0.0,
        "direct_api_inference_usage": {model: detail},
    })
}

/// The `harness-usage` answer of a run that has a conversation: a usage envelope for Claude
/// Code and Codex runs that have started, otherwise an unavailable result.
pub(crate) fn harness_usage(run: &Run, conversation_id: &str, now: DateTime<Utc>) -> Value {
    let mut v = json!({
        "run_id": run.id,
        "conversation_id": conversation_id,
        "available": false,
    });
    let harness = match run.harness.as_deref() {
        Some("claude") => "CLAUDE_CODE",
        Some("codex") => "CODEX",
        _ => return v,
    };
    if run.phase.step() < Phase::InProgress.step() {
        return v;
    }
    let captured_at = run.ended_at.unwrap_or(run.updated_at);
    let status = if run.phase.is_terminal() {
        "known"
    } else {
        "partial"
    };
    let payload = if harness == "CLAUDE_CODE" {
        claude_payload(run)
    } else {
        codex_payload()
    };
    v["available"] = json!(true);
    v["age_seconds"] = json!((now - captured_at).num_seconds().max(0));
    v["usage"] = json!({
        "harness": harness,
        "metricsVersion": 1,
        "captureSequence": i64::try_from(run.transitions.len()).unwrap_or(i64::MAX) + 2,
        "capturedAt": rfc3339(captured_at),
        "executionId": run.execution_id,
        "snapshot": {
            "coverage": {"tokenStatus": status, "toolStatus": "known"},
            "payload": payload,
        },
    });
    v
}

fn claude_payload(run: &Run) -> Value {
    let usage = json!({
        "input_tokens": 4_210,
        "output_tokens": 1_876,
        "cache_creation_input_tokens": 2_048,
        "cache_read_input_tokens": 30_512,
        "cache_creation": {"ephemeral_5m_input_tokens": 2_048, "ephemeral_1h_input_tokens": 0},
    });
    let model = run
        .config
        .as_ref()
        .and_then(|c| c.pointer("/harness/model_id"))
        .and_then(Value::as_str)
        .unwrap_or("claude-sonnet-4-6");
    json!({
        "usage": usage,
        "toolCalls": {"total": 23, "byName": {"Bash": 9, "Read": 8, "Edit": 5, "Grep": 1}},
        "attribution": [{
            "model": model,
            "service_tier": "standard",
            "inference_geo": "us",
            "speed": "standard",
            "usage": usage,
        }],
    })
}

fn codex_payload() -> Value {
    let usage = json!({
        "input_tokens": 33_792,
        "cached_input_tokens": 28_672,
        "cache_write_input_tokens": 0,
        "output_tokens": 2_210,
        "reasoning_output_tokens": 960,
        "total_tokens": 36_002,
    });
    json!({
        "usage": usage,
        "toolCalls": {"total": 14, "byName": {"shell": 10, "apply_patch": 4}},
        "attribution": [{"model": "gpt-5-codex", "service_tier": "default", "usage": usage}],
    })
}
