//! Error answers always reach the caller as a typed problem body with their HTTP status.
//!
//! Servers, proxies and load balancers answer errors in many shapes: problem+json, a legacy
//! `{"error": ...}`, an HTML page from a proxy, a body cut short. The generated client decodes
//! 4xx/5xx bodies as `types::Error`; whatever cannot be decoded as a JSON object is replaced here
//! by a problem body that says what arrived (with a short, sanitised excerpt), so the caller
//! always gets `Error::Problem` with the status and headers instead of a decode error that
//! has lost them.
//!
//! A JSON object whose members have types the problem schema does not allow (a `detail` that is
//! a list of validation errors, a `status` sent as text) is fitted to the schema member by
//! member: a text member that arrived as another JSON value keeps that value as its JSON text, a
//! list of text keeps its items as text, and a member that cannot be fitted (a `retryable` that
//! is not a boolean) is left out. Members the schema does not name are ignored as usual.

use bytes::Bytes;
use futures::StreamExt;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use serde::Deserialize;

/// Error bodies larger than this are not JSON documents we want to decode.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Characters of a non-JSON body kept in the problem description.
pub(crate) const EXCERPT_CHARS: usize = 200;

/// Returns the response unchanged unless it is an error answer. An error answer's body is read
/// (at most `MAX_ERROR_BODY` bytes) and handed on as a JSON object: the server's own object
/// fitted to the problem schema, or a problem describing whatever else arrived. Its decoded
/// problem comes back too, for the retry decision.
///
/// `secret` (the client's API key) is replaced by `<redacted>` in the body before anything is
/// decoded or excerpted: a server or proxy that echoes the request's `Authorization` header
/// into its error must not put the key into the error's message.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) async fn normalise(
    response: reqwest::Response,
    secret: Option<&[u8]>,
) -> (reqwest::Response, Option<crate::types::Error>) {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return (response, None);
    }
    let mut head = Head::of(&response);
    let problem = problem_value(response, &mut head.headers, secret).await;
    let decoded = crate::types::Error::deserialize(&problem).ok();
    (
        head.with_body(reqwest::Body::from(problem.to_string())),
        decoded,
    )
}

/// The problem object of an error answer (see [`normalise`]), read from `response` whose
/// headers are `headers`; those are adjusted to the object (its media type when one is made
/// up, no `Content-Length`).
pub(crate) async fn problem_value(
    response: reqwest::Response,
    headers: &mut reqwest::header::HeaderMap,
    secret: Option<&[u8]>,
) -> serde_json::Value {
    let status = response.status();
    let (body, complete) = read_limited(response).await;
    let body = match secret {
        Some(secret) => scrub(&body, secret, !complete),
        None => body.to_vec(),
    };
    // Re-encoding through `Value` also settles members that a body repeats (the last one
    // wins), which the generated types would otherwise refuse.
    let object = complete
        .then(|| serde_json::from_slice::<serde_json::Value>(&body).ok())
        .flatten()
        .filter(serde_json::Value::is_object);
    let problem = if let Some(serde_json::Value::Object(object)) = object {
        fit_problem(object)
    } else {
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        problem_for(status, &body, complete)
    };
    headers.remove(CONTENT_LENGTH);
    problem
}

/// Everything of a response but its body, to hand the response on with another body.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) struct Head {
    pub(crate) status: reqwest::StatusCode,
    pub(crate) version: http::Version,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) extensions: http::Extensions,
    pub(crate) url: reqwest::Url,
}

#[cfg(not(target_arch = "wasm32"))]
impl Head {
    pub(crate) fn of(response: &reqwest::Response) -> Self {
        Self {
            status: response.status(),
            version: response.version(),
            headers: response.headers().clone(),
            extensions: response.extensions().clone(),
            url: response.url().clone(),
        }
    }

    /// The response with `body`, keeping the URL it came from (which `reqwest::Response::url`
    /// reports, and against which a relative `Location` resolves).
    pub(crate) fn with_body(self, body: reqwest::Body) -> reqwest::Response {
        use reqwest::ResponseBuilderExt;
        let mut rebuilt = http::Response::builder()
            .url(self.url)
            .body(body)
            .expect("a builder with only a URL extension is valid");
        *rebuilt.status_mut() = self.status;
        *rebuilt.version_mut() = self.version;
        *rebuilt.headers_mut() = self.headers;
        rebuilt.extensions_mut().extend(self.extensions);
        reqwest::Response::from(rebuilt)
    }
}

/// `body` with every occurrence of `secret` replaced by `<redacted>`; when the body was cut
/// short, a tail that begins the secret goes too (the rest of it was never read).
pub(crate) fn scrub(body: &[u8], secret: &[u8], cut_short: bool) -> Vec<u8> {
    const REDACTED: &[u8] = b"<redacted>";
    if secret.is_empty() {
        return body.to_vec();
    }
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    while let Some(at) = rest.windows(secret.len()).position(|w| w == secret) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(REDACTED);
        rest = &rest[at + secret.len()..];
    }
    out.extend_from_slice(rest);
    if cut_short {
        let longest = (1..secret.len().min(out.len() + 1))
            .rev()
            .find(|n| out.ends_with(&secret[..*n]));
        if let Some(n) = longest {
            out.truncate(out.len() - n);
        }
    }
    out
}

/// Reads at most `MAX_ERROR_BODY` bytes; `complete` is false when the body was longer or broke off.
async fn read_limited(response: reqwest::Response) -> (Bytes, bool) {
    let mut stream = response.bytes_stream();
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) if body.len() + chunk.len() <= MAX_ERROR_BODY => {
                body.extend_from_slice(&chunk)
            }
            Ok(chunk) => {
                let room = MAX_ERROR_BODY - body.len();
                body.extend_from_slice(&chunk[..room]);
                return (body.into(), false);
            }
            Err(_) => return (body.into(), false),
        }
    }
    (body.into(), true)
}

/// The object itself when it decodes as a problem body, else the object with each member fitted
/// to the problem schema on its own (see the module docs).
fn fit_problem(object: serde_json::Map<String, serde_json::Value>) -> serde_json::Value {
    use serde_json::Value;
    let whole = Value::Object(object);
    if fits(&whole) {
        return whole;
    }
    let Value::Object(members) = whole else {
        return whole;
    };
    let fitted = members
        .into_iter()
        .filter_map(|(name, value)| {
            let text = |value: &Value| match value {
                Value::String(text) => Value::String(text.clone()),
                other => Value::String(other.to_string()),
            };
            let mut candidates = vec![text(&value)];
            if let Value::Array(items) = &value {
                candidates.push(Value::Array(items.iter().map(text).collect()));
            }
            std::iter::once(value)
                .chain(candidates)
                .find(|candidate| fits(&serde_json::json!({ name.as_str(): candidate })))
                .map(|value| (name, value))
        })
        .collect();
    Value::Object(fitted)
}

fn fits(value: &serde_json::Value) -> bool {
    crate::types::Error::deserialize(value).is_ok()
}

fn problem_for(status: reqwest::StatusCode, body: &[u8], complete: bool) -> serde_json::Value {
    let title = status.canonical_reason().unwrap_or("HTTP error");
    let what = match (body.is_empty(), complete) {
        (true, true) => "an empty body".to_owned(),
        (true, false) => "a body that could not be read".to_owned(),
        (false, _) => {
            let text = String::from_utf8_lossy(body);
            let excerpt: String = text
                .chars()
                .map(|c| {
                    if crate::error::is_unsafe_char(c) {
                        ' '
                    } else {
                        c
                    }
                })
                .take(EXCERPT_CHARS)
                .collect();
            let cut = if complete && text.chars().count() <= EXCERPT_CHARS {
                ""
            } else {
                "…"
            };
            format!("a body that is not a JSON problem: {}{cut}", excerpt.trim())
        }
    };
    let detail = format!("the server answered {} with {what}", status.as_u16());
    serde_json::json!({
        "type": "about:blank",
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
        "error": format!("{title} ({detail})"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    async fn norm(response: reqwest::Response) -> (reqwest::Response, Option<crate::types::Error>) {
        normalise(response, None).await
    }

    fn response(status: u16, content_type: &str, body: &'static str) -> reqwest::Response {
        let mut r = http::Response::new(reqwest::Body::from(body));
        *r.status_mut() = StatusCode::from_u16(status).unwrap();
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        r.headers_mut()
            .insert("x-request-id", HeaderValue::from_static("req-1"));
        reqwest::Response::from(r)
    }

    #[tokio::test]
    async fn json_error_objects_keep_their_members() {
        let body = r#"{"error":"legacy shape","running_agents":3}"#;
        let (out, _) = norm(response(403, "application/json", body)).await;
        assert_eq!(out.status(), 403);
        let value: serde_json::Value = out.json().await.unwrap();
        assert_eq!(
            value,
            serde_json::json!({"error": "legacy shape", "running_agents": 3})
        );
    }

    #[tokio::test]
    async fn an_html_proxy_page_becomes_a_problem_with_status_headers_and_excerpt() {
        let (out, _) = norm(response(
            502,
            "text/html",
            "<html><body>Bad gateway\n</body></html>",
        ))
        .await;
        assert_eq!(out.status(), 502);
        assert_eq!(out.headers()["x-request-id"], "req-1");
        assert_eq!(out.headers()[CONTENT_TYPE], "application/problem+json");
        let problem: serde_json::Value = out.json().await.unwrap();
        assert_eq!(problem["status"], 502);
        assert_eq!(problem["title"], "Bad Gateway");
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains("<html><body>Bad gateway </body></html>"),
            "{detail}"
        );
    }

    #[tokio::test]
    async fn truncated_json_and_long_bodies_are_described_not_decoded() {
        let (out, _) = norm(response(500, "application/json", r#"{"type": "x", "tit"#)).await;
        let problem: serde_json::Value = out.json().await.unwrap();
        assert_eq!(problem["status"], 500);

        let long: &'static str = Box::leak("x".repeat(1000).into_boxed_str());
        let (out, _) = norm(response(503, "text/plain", long)).await;
        let problem: serde_json::Value = out.json().await.unwrap();
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.ends_with('…') && detail.len() < 300, "{detail}");
    }

    #[tokio::test]
    async fn a_member_repeated_in_an_error_body_keeps_its_last_value() {
        let body = r#"{"title":"first","status":402,"title":"Insufficient credits"}"#;
        let (out, _) = norm(response(402, "application/problem+json", body)).await;
        let problem: serde_json::Value = out.json().await.unwrap();
        assert_eq!(problem["title"], "Insufficient credits");
    }

    #[tokio::test]
    async fn members_of_the_wrong_type_are_fitted_to_the_problem_schema() {
        let body = r#"{"detail":[{"loc":["body","prompt"],"msg":"field required"}],
            "title":"Unprocessable","status":"422","retryable":"no","error":{"code":7},
            "inaccessible_repos":["warp/a",3],"trace_id":"t-1","extra":{"kept":"aside"}}"#;
        let (out, _) = norm(response(422, "application/json", body)).await;
        assert_eq!(out.status(), 422);
        let problem: crate::types::Error = out.json().await.unwrap();
        assert_eq!(
            problem.detail.as_deref(),
            Some(r#"[{"loc":["body","prompt"],"msg":"field required"}]"#)
        );
        assert_eq!(problem.error.as_deref(), Some(r#"{"code":7}"#));
        assert_eq!(problem.inaccessible_repos, ["warp/a", "3"]);
        assert_eq!(problem.title.as_deref(), Some("Unprocessable"));
        assert_eq!(problem.trace_id.as_deref(), Some("t-1"));
        assert_eq!((problem.status, problem.retryable), (None, None));
    }

    #[tokio::test]
    async fn successful_responses_are_not_touched() {
        let (out, _) = norm(response(200, "text/plain", "not json")).await;
        assert_eq!(out.text().await.unwrap(), "not json");
    }
}
