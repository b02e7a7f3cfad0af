//! Record mode: a read-only scenario against the live service that writes what it saw as new
//! fixtures (`fixtures/<operation_id>/recorded-<time>-<n>.json`), secrets redacted.
//!
//! It runs only when asked (`OZ_RECORD=1` and `WARP_API_KEY` set); see `tests/README.md`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::fixture::{Fixture, FixtureRequest, FixtureResponse, to_pretty};
use crate::redact::{kept_response_headers, redact_text, redact_value};

/// Environment variable that turns record mode on (`1`).
pub const RECORD_ENV: &str = "OZ_RECORD";

/// Why record mode will not run, or the settings it runs with.
#[derive(Debug)]
pub enum RecordSettings {
    /// Record mode was not asked for, or has no key; the message says what to set.
    Off(String),
    /// Record against `base_url` with this key.
    On {
        /// API base URL (`WARP_BASE_URL` or `OZ_API_BASE_URL`, default production).
        base_url: String,
        /// The API key. Never printed.
        api_key: Secret,
    },
}

/// A value kept out of `Debug` output.
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl RecordSettings {
    /// Reads `OZ_RECORD`, `WARP_API_KEY` and `WARP_BASE_URL` (or `OZ_API_BASE_URL`) through
    /// `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        if lookup(RECORD_ENV).as_deref() != Some("1") {
            return Self::Off(format!(
                "record mode is off: set {RECORD_ENV}=1 and WARP_API_KEY to record fixtures \
                 from the live service"
            ));
        }
        let Some(api_key) = lookup("WARP_API_KEY").filter(|k| !k.trim().is_empty()) else {
            return Self::Off(
                "record mode needs an API key: set WARP_API_KEY (nothing was sent)".to_owned(),
            );
        };
        // The SDK's names for the base URL, the newer one first.
        let base_url = [
            oz_api_ext::oz_api::WARP_BASE_URL_ENV,
            oz_api_ext::oz_api::BASE_URL_ENV,
        ]
        .into_iter()
        .find_map(|name| lookup(name).filter(|u| !u.trim().is_empty()))
        .unwrap_or_else(|| oz_api_ext::oz_api::DEFAULT_BASE_URL.to_owned());
        Self::On {
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: Secret(api_key.trim().to_owned()),
        }
    }
}

/// One read-only step of the scenario.
struct Step {
    operation_id: &'static str,
    path: String,
    query: Vec<(String, String)>,
}

impl Step {
    fn new(operation_id: &'static str, path: impl Into<String>) -> Self {
        Self {
            operation_id,
            path: path.into(),
            query: Vec::new(),
        }
    }

    fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// Runs the read-only scenario (list runs, then the first run and its timeline; schedules,
/// environments, models, agents, identities, workers) and writes one fixture per exchange
/// into `fixtures_dir`. Returns the files written.
pub async fn record_scenario(
    base_url: &str,
    api_key: &Secret,
    fixtures_dir: &Path,
) -> Result<Vec<PathBuf>, String> {
    let http = oz_api_ext::oz_api::http_client_builder()
        .expect("the SDK's TLS setup")
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!(
            "oz-conformance-recorder/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let mut written = Vec::new();
    let first = vec![
        Step::new("list_runs", "/agent/runs").query("limit", "3"),
        Step::new("list_schedules", "/agent/schedules"),
        Step::new("list_environments", "/agent/environments"),
        Step::new("list_models", "/agent/models"),
        Step::new("list_agents", "/agent"),
        Step::new("list_agent_identities", "/agent/identities"),
        Step::new(
            "list_connected_self_hosted_workers",
            "/agent/connected-self-hosted-workers",
        ),
    ];
    let mut run_id = None;
    for step in first {
        let (fixture, body) = exchange(&http, base_url, api_key, &step).await?;
        if step.operation_id == "list_runs" {
            run_id = body
                .pointer("/runs/0/run_id")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        written.push(write(fixtures_dir, step.operation_id, &stamp, &fixture)?);
    }
    if let Some(run_id) = run_id {
        for step in [
            Step::new("get_run", format!("/agent/runs/{run_id}")),
            Step::new("get_run_timeline", format!("/agent/runs/{run_id}/timeline")),
        ] {
            let (fixture, _) = exchange(&http, base_url, api_key, &step).await?;
            written.push(write(fixtures_dir, step.operation_id, &stamp, &fixture)?);
        }
    }
    Ok(written)
}

/// Sends one step and turns the exchange into a redacted fixture; also returns the body as
/// received, for the steps that follow.
async fn exchange(
    http: &reqwest::Client,
    base_url: &str,
    api_key: &Secret,
    step: &Step,
) -> Result<(Fixture, Value), String> {
    let response = http
        .get(format!("{base_url}{}", step.path))
        .query(&step.query)
        .bearer_auth(&api_key.0)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| format!("{}: {}", step.operation_id, e.without_url()))?;
    let status = response.status().as_u16();
    let headers = kept_response_headers(
        response
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?))),
    );
    let bytes = response
        .bytes()
        .await
        .map_err(|e| format!("{}: {}", step.operation_id, e.without_url()))?;
    let received: Value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| format!("{}: the answer is not JSON: {e}", step.operation_id))?
    };
    let mut body = received.clone();
    redact_value(&mut body);
    let fixture = Fixture {
        description: Some(format!(
            "Recorded from the live service ({} {}), secrets redacted.",
            "GET", step.path
        )),
        spec_exempt: None,
        unknown_fields: Vec::new(),
        request: FixtureRequest {
            method: "GET".to_owned(),
            path: redact_text(&step.path),
            query: step.query.clone(),
            headers: Default::default(),
            body: None,
        },
        response: FixtureResponse {
            status,
            headers,
            body: (!body.is_null()).then_some(body),
        },
    };
    Ok((fixture, received))
}

fn write(
    dir: &Path,
    operation_id: &str,
    stamp: &str,
    fixture: &Fixture,
) -> Result<PathBuf, String> {
    let folder = dir.join(operation_id);
    std::fs::create_dir_all(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    let path = folder.join(format!("recorded-{stamp}.json"));
    std::fs::write(&path, to_pretty(fixture)).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_mode_needs_the_flag_and_a_key() {
        let off = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            RecordSettings::from_lookup(move |name| {
                vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
            })
        };
        assert!(matches!(
            off(&[("WARP_API_KEY", "wk-1")]),
            RecordSettings::Off(_)
        ));
        assert!(
            matches!(off(&[("OZ_RECORD", "1")]), RecordSettings::Off(m) if m.contains("WARP_API_KEY"))
        );
        match off(&[
            ("OZ_RECORD", "1"),
            ("WARP_API_KEY", "wk-1"),
            ("OZ_API_BASE_URL", "http://127.0.0.1:9/api/v1/"),
        ]) {
            RecordSettings::On { base_url, api_key } => {
                assert_eq!(base_url, "http://127.0.0.1:9/api/v1");
                assert_eq!(format!("{api_key:?}"), "<redacted>");
            }
            other => panic!("{other:?}"),
        }
        match off(&[
            ("OZ_RECORD", "1"),
            ("WARP_API_KEY", "wk-1"),
            ("WARP_BASE_URL", "http://127.0.0.1:9/newer/"),
            ("OZ_API_BASE_URL", "http://127.0.0.1:9/older"),
        ]) {
            RecordSettings::On { base_url, .. } => {
                assert_eq!(base_url, "http://127.0.0.1:9/newer");
            }
            other => panic!("{other:?}"),
        }
    }
}
