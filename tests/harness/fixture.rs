//! The fixture format: one HTTP exchange per JSON file, `fixtures/<operation_id>/<case>.json`.
//!
//! ```
//! use oz_conformance::Fixture;
//!
//! let fixture: Fixture = serde_json::from_str(r#"{
//!     "description": "A run that finished.",
//!     "request": {"method": "GET", "path": "/agent/runs/run-1"},
//!     "response": {"status": 404, "headers": {"content-type": "application/problem+json"},
//!                  "body": {"type": "resource_not_found", "title": "Not found", "status": 404,
//!                           "error": "Not found"}}
//! }"#)?;
//! assert_eq!(fixture.response.status, 404);
//! assert!(fixture.request.query.is_empty());
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One recorded (or written) HTTP exchange of one operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// What the exchange shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The response body knowingly breaks the spec (e.g. an enum value the spec does not list
    /// yet); validation must fail, and only at these paths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_exempt: Option<SpecExempt>,
    /// JSON pointers into the response body of members the SDK does not know and drops when
    /// decoding (the spec's schemas are open, so these still validate).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown_fields: Vec<String>,
    /// What the SDK must send.
    pub request: FixtureRequest,
    /// What the server answers.
    pub response: FixtureResponse,
}

/// Why and where a fixture's response body is allowed to break the spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecExempt {
    /// Why the body breaks the spec on purpose.
    pub reason: String,
    /// JSON pointers of the values that break it (`/runs/0/state`).
    pub paths: Vec<String>,
}

/// The request of an exchange. The path is relative to the API base URL (`/agent/runs`, not
/// `/api/v1/agent/runs`) and percent-encoded as on the wire; query values are decoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureRequest {
    /// HTTP method, upper case.
    pub method: String,
    /// Path below the base URL.
    pub path: String,
    /// Query pairs in the order sent; a name may repeat.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<(String, String)>,
    /// Headers that matter (lower-case names), e.g. `content-type` and `x-warp-team-uid`.
    /// `Authorization` is never stored: whether it must be sent follows from the operation's
    /// security in `openapi.json`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// JSON body, when the request has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

/// The response of an exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers (lower-case names), e.g. `content-type` and `location`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// JSON body, when the response has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

impl FixtureResponse {
    /// The `content-type` header, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.headers.get("content-type").map(String::as_str)
    }
}

/// A fixture with the operation and file it came from.
#[derive(Debug, Clone)]
pub struct LoadedFixture {
    /// The operation id (the fixture's folder).
    pub operation_id: String,
    /// The file name without `.json`.
    pub case: String,
    /// Where the file is.
    pub path: PathBuf,
    /// The exchange.
    pub fixture: Fixture,
}

impl LoadedFixture {
    /// `fixtures/<operation_id>/<case>.json`, the name failure messages use.
    pub fn label(&self) -> String {
        format!("fixtures/{}/{}.json", self.operation_id, self.case)
    }

    /// Whether the response is a success (2xx or 3xx).
    pub fn is_success(&self) -> bool {
        self.fixture.response.status < 400
    }
}

impl fmt::Display for LoadedFixture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.label(), self.operation_id)
    }
}

/// The folder holding the checked-in fixtures.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Every fixture under `dir`, sorted by operation and case. Files that cannot be read or parsed
/// are errors naming the file.
pub fn load_all(dir: &Path) -> Result<Vec<LoadedFixture>, String> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let operations = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for operation in operations {
        let operation = operation.map_err(|e| format!("{}: {e}", dir.display()))?;
        if !operation.path().is_dir() {
            continue;
        }
        let operation_id = operation.file_name().to_string_lossy().into_owned();
        let files =
            std::fs::read_dir(operation.path()).map_err(|e| format!("{operation_id}: {e}"))?;
        for file in files {
            let path = file.map_err(|e| format!("{operation_id}: {e}"))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let case = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            match load_one(&path) {
                Ok(fixture) => out.push(LoadedFixture {
                    operation_id: operation_id.clone(),
                    case,
                    path,
                    fixture,
                }),
                Err(e) => errors.push(format!("fixtures/{operation_id}/{case}.json: {e}")),
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    out.sort_by(|a, b| (&a.operation_id, &a.case).cmp(&(&b.operation_id, &b.case)));
    Ok(out)
}

/// Every checked-in fixture; panics with the reasons when one is unreadable.
pub fn load_checked_in() -> Vec<LoadedFixture> {
    load_all(&fixtures_dir()).unwrap_or_else(|e| panic!("unreadable fixtures:\n{e}"))
}

/// The checked-in fixture `tests/fixtures/<operation>/<case>.json`.
///
/// # Panics
///
/// When there is no such fixture.
pub fn checked_in(operation: &str, case: &str) -> LoadedFixture {
    load_checked_in()
        .into_iter()
        .find(|f| f.operation_id == operation && f.case == case)
        .unwrap_or_else(|| panic!("fixtures/{operation}/{case}.json"))
}

fn load_one(path: &Path) -> Result<Fixture, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| format!("not a fixture: {e}"))
}

/// The file text of a fixture: pretty JSON with a final newline.
pub fn to_pretty(fixture: &Fixture) -> String {
    let mut text = serde_json::to_string_pretty(fixture).unwrap_or_default();
    text.push('\n');
    text
}
