//! Decodes arbitrary bytes as every response type of the API and classifies them as an error
//! answer. Nothing may panic; whatever decodes must survive a second trip through JSON.
//!
//! The first byte picks the type, the second and third the HTTP status of the error answer;
//! the rest is the body. Run with `cargo +nightly fuzz run decode` from the repository root.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oz_api::types;
use oz_api::{Error, ResponseValue};
use serde::Serialize;
use serde::de::DeserializeOwned;

fn round_trip<T: DeserializeOwned + Serialize>(body: &[u8]) {
    let Ok(value) = serde_json::from_slice::<T>(body) else {
        return;
    };
    let first = serde_json::to_value(&value).expect("a decoded value serialises");
    let again: T = serde_json::from_value(first.clone()).expect("a value decodes again");
    let second = serde_json::to_value(&again).expect("a decoded value serialises");
    assert_eq!(first, second, "the value changed on a second round trip");
}

fn classify(status: u16, body: &[u8]) {
    let Ok(status) = reqwest::StatusCode::from_u16(status) else {
        return;
    };
    let problem: types::Error = serde_json::from_slice(body).unwrap_or_default();
    let mut headers = reqwest::header::HeaderMap::new();
    if let Ok(text) = std::str::from_utf8(body)
        && let Ok(value) = reqwest::header::HeaderValue::from_str(text.trim())
    {
        for name in [
            "retry-after",
            "retry-after-ms",
            "x-should-retry",
            "traceparent",
            "x-cloud-trace-context",
        ] {
            headers.insert(name, value.clone());
        }
    }
    for err in [
        Error::Problem(ResponseValue::new(problem, status, headers.clone())),
        Error::UnexpectedResponse(reqwest::Response::from({
            let mut answer = http::Response::new(reqwest::Body::from(body.to_vec()));
            *answer.status_mut() = status;
            *answer.headers_mut() = headers.clone();
            answer
        })),
    ] {
        let _ = (
            err.status(),
            err.error_code(),
            err.message(),
            err.is_transient(),
        );
        let _ = (
            err.retry_after(),
            err.trace_id(),
            err.request_id(),
            err.is_not_found(),
        );
        let line = err.to_string();
        assert!(!line.contains('\n'), "{line:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let [kind, high, low, body @ ..] = data else {
        return;
    };
    match kind % 9 {
        0 => round_trip::<types::RunItem>(body),
        1 => round_trip::<types::ListRunsResponse>(body),
        2 => round_trip::<types::ArtifactItem>(body),
        3 => round_trip::<types::ArtifactResponse>(body),
        4 => round_trip::<types::Error>(body),
        5 => round_trip::<types::ScheduledAgentItem>(body),
        6 => round_trip::<types::AgentResponse>(body),
        7 => round_trip::<types::AgentRunEvent>(body),
        _ => classify(u16::from_be_bytes([*high, *low]) % 1000, body),
    }
});
