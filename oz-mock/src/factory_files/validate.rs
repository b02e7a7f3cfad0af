//! Validation of a Factory tree given as paths and contents: parse each file, check it against
//! its schema document, then the checks across files that need no tenant state.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Value, json};

use super::schemas::{self, CURRENT_VERSION, field_path};
use super::yaml;

/// Largest file content accepted, as the service documents it.
pub(crate) const MAX_FILE_BYTES: usize = 2 * 1024 * 1024;

/// Checks the service leaves to apply time; listed on every answer.
const STATE_DEPENDENT_CHECKS: [&str; 8] = [
    "secret_existence",
    "environment_existence",
    "runner_existence",
    "managed_mcp_server_existence",
    "integration_installation",
    "repository_access",
    "linear_name_alias_resolution",
    "model_availability",
];

/// One file of the tree.
pub(crate) struct File {
    pub(crate) path: String,
    pub(crate) content: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Factory,
    Agent,
    Automation,
    Runner,
    Scorer,
}

impl Kind {
    fn schema(self) -> &'static str {
        match self {
            Kind::Factory => "factory.schema.json",
            Kind::Agent => "agent.schema.json",
            Kind::Automation => "automation.schema.json",
            Kind::Runner => "runner.schema.json",
            Kind::Scorer => "scorer.schema.json",
        }
    }
}

const DATA_EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// What a path names: `factory.yaml`, `agents/<name>/agent.md` (or `agent.yaml`),
/// `automations/<name>.yaml`, `runners/<name>.yaml`, `scorers/<name>.yaml` (`.yml` and
/// `.json` too).
fn kind_of(path: &str) -> Option<Kind> {
    let parts: Vec<&str> = path.split('/').collect();
    let data_file = |name: &str, stem: Option<&str>| {
        name.rsplit_once('.').is_some_and(|(s, ext)| {
            DATA_EXTENSIONS.contains(&ext) && stem.is_none_or(|stem| s == stem) && !s.is_empty()
        })
    };
    match parts.as_slice() {
        [name] if data_file(name, Some("factory")) => Some(Kind::Factory),
        ["agents", dir, name]
            if !dir.is_empty() && (*name == "agent.md" || data_file(name, Some("agent"))) =>
        {
            Some(Kind::Agent)
        }
        ["automations", name] if data_file(name, None) => Some(Kind::Automation),
        ["runners", name] if data_file(name, None) => Some(Kind::Runner),
        ["scorers", name] if data_file(name, None) => Some(Kind::Scorer),
        _ => None,
    }
}

fn path_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        Some("the path is empty")
    } else if path.starts_with('/') || path.contains('\\') {
        Some("paths are repository-relative and use `/`")
    } else if path
        .split('/')
        .any(|p| p.is_empty() || p == "." || p == "..")
    {
        Some("paths must not contain empty, `.` or `..` segments")
    } else {
        None
    }
}

struct Diagnostics(Vec<Value>);

impl Diagnostics {
    fn push(&mut self, path: &str, (line, column): (usize, usize), code: &str, message: String) {
        self.0.push(json!({
            "path": path,
            "line": line,
            "column": column,
            "code": code,
            "message": message,
        }));
    }
}

/// A parsed file: its value and where each JSON pointer starts.
struct Parsed {
    path: String,
    kind: Kind,
    value: Value,
    positions: Positions,
}

impl Parsed {
    /// Position of a pointer, else of its nearest parent, else line 1 column 1.
    fn position(&self, pointer: &str) -> (usize, usize) {
        let mut current = pointer;
        loop {
            if let Some(&p) = self.positions.get(current) {
                return p;
            }
            match current.rfind('/') {
                Some(i) => current = &current[..i],
                None => return (1, 1),
            }
        }
    }
}

/// Where each JSON pointer of a parsed file starts (line, column).
type Positions = HashMap<String, (usize, usize)>;

/// Parses one file by its extension: `.json` as JSON, `agent.md` as Markdown with YAML front
/// matter (`---` lines around it), anything else as YAML (which takes JSON text too, with
/// positions).
fn parse_file(path: &str, content: &str) -> Result<(Value, Positions), Vec<yaml::ParseError>> {
    if path.ends_with(".md") {
        let mut lines = content.lines();
        if lines.next().map(str::trim_end) != Some("---") {
            return Err(vec![yaml::ParseError {
                line: 1,
                column: 1,
                code: "FF_MISSING_FRONT_MATTER",
                message: "agent.md must start with YAML front matter between `---` lines".into(),
            }]);
        }
        let rest: Vec<&str> = lines.collect();
        let Some(end) = rest.iter().position(|l| l.trim_end() == "---") else {
            return Err(vec![yaml::ParseError {
                line: 1,
                column: 1,
                code: "FF_MISSING_FRONT_MATTER",
                message: "the front matter is not closed by a `---` line".into(),
            }]);
        };
        let doc = yaml::parse(&rest[..end].join("\n"), 2)?;
        let mut value = doc.value;
        let body = rest[end + 1..].join("\n");
        if let Value::Object(map) = &mut value
            && !body.trim().is_empty()
            && !map.contains_key("prompt")
        {
            map.insert("prompt".into(), Value::String(body.trim().to_owned()));
        }
        return Ok((value, doc.positions));
    }
    if path.ends_with(".json") {
        return serde_json::from_str(content)
            .map(|v| (v, HashMap::new()))
            .map_err(|e| {
                vec![yaml::ParseError {
                    line: e.line().max(1),
                    column: e.column().max(1),
                    code: "FF_PARSE_ERROR",
                    message: format!("invalid JSON: {e}"),
                }]
            });
    }
    yaml::parse(content, 1).map(|d| (d.value, d.positions))
}

/// Values whose existence only tenant state can prove, with the resolution skipped.
fn deferred(file: &Parsed) -> Vec<Value> {
    let mut out = Vec::new();
    let mut add = |pointer: &str, kind: &str| {
        if file.value.pointer(pointer).is_some_and(|v| !v.is_null()) {
            out.push(json!({"path": file.path, "field": field_path(pointer), "kind": kind}));
        }
    };
    let v = &file.value;
    let len = |pointer: &str| {
        v.pointer(pointer)
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    };
    let keys = |pointer: &str| -> Vec<String> {
        v.pointer(pointer)
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let (secrets, mcp) = match file.kind {
        Kind::Factory => ("/agent_defaults/secrets", "/agent_defaults/mcp_servers"),
        _ => ("/secrets", "/mcp_servers"),
    };
    match file.kind {
        Kind::Factory => {
            add("/default_environment", "environment_uid");
            add("/agent_defaults/default_runner_uid", "runner_uid");
        }
        Kind::Agent => {
            add("/environment", "environment_name");
            add("/runner", "runner_name");
        }
        Kind::Runner => add("/environment", "environment_name"),
        Kind::Automation => {
            for i in 0..len("/triggers") {
                let kind = match v
                    .pointer(&format!("/triggers/{i}/type"))
                    .and_then(Value::as_str)
                {
                    Some("linear") => "linear_name_alias",
                    Some("jira") => "jira_project_key",
                    Some("slack") => "slack_channel_name",
                    _ => continue,
                };
                let filter = match kind {
                    "linear_name_alias" => "teams",
                    "jira_project_key" => "projects",
                    _ => "channels",
                };
                add(&format!("/triggers/{i}/filter/{filter}"), kind);
            }
        }
        Kind::Scorer => {}
    }
    for i in 0..len(secrets) {
        add(&format!("{secrets}/{i}/name"), "secret_name");
    }
    for server in keys(mcp) {
        let key = server.replace('~', "~0").replace('/', "~1");
        add(&format!("{mcp}/{key}/warp_id"), "managed_mcp_server");
    }
    out
}

/// The `FileValidateResponse` for a tree.
pub(crate) fn validate(files: &[File]) -> Value {
    let mut diagnostics = Diagnostics(Vec::new());
    let mut parsed = Vec::new();
    let mut parse_failed = false;
    let mut seen = HashSet::new();
    for file in files {
        let path = file.path.as_str();
        if let Some(problem) = path_problem(path) {
            diagnostics.push(path, (1, 1), "FF_INVALID_PATH", problem.to_owned());
            continue;
        }
        if !seen.insert(path) {
            diagnostics.push(
                path,
                (1, 1),
                "FF_DUPLICATE_PATH",
                format!("{path} is given more than once"),
            );
            continue;
        }
        let Some(kind) = kind_of(path) else {
            diagnostics.push(
                path,
                (1, 1),
                "FF_UNKNOWN_FILE",
                format!(
                    "{path} is not a Factory resource file (factory.yaml, agents/<name>/agent.md, \
                     automations/, runners/ or scorers/<name>.yaml)"
                ),
            );
            continue;
        };
        if file.content.len() > MAX_FILE_BYTES {
            diagnostics.push(
                path,
                (1, 1),
                "FF_FILE_TOO_LARGE",
                format!("{path} is larger than 2 MiB"),
            );
            continue;
        }
        match parse_file(path, &file.content) {
            Ok((value, positions)) => parsed.push(Parsed {
                path: path.to_owned(),
                kind,
                value,
                positions,
            }),
            Err(errors) => {
                parse_failed = true;
                for e in errors {
                    diagnostics.push(path, (e.line, e.column), e.code, e.message);
                }
            }
        }
    }

    let factory = parsed.iter().find(|p| p.kind == Kind::Factory);
    let schema_version = factory
        .and_then(|f| f.value.get("schema_version"))
        .and_then(Value::as_str)
        .unwrap_or(CURRENT_VERSION)
        .to_owned();
    let state_independent = !parse_failed;
    if state_independent {
        check_tree(
            &parsed,
            factory.is_some(),
            &schema_version,
            &mut diagnostics,
        );
    }
    let deferred_resolutions: Vec<Value> = parsed.iter().flat_map(deferred).collect();
    json!({
        "valid": diagnostics.0.is_empty(),
        "schema_version": schema_version,
        "diagnostics": diagnostics.0,
        "deferred_resolutions": deferred_resolutions,
        "state_dependent_checks_not_run": STATE_DEPENDENT_CHECKS,
        "validation_scope": {
            "parser": if files.is_empty() { "not_run" } else { "checked" },
            "state_independent": if state_independent { "checked" } else { "not_run" },
            "state_dependent": "not_checked",
        },
    })
}

/// The checks that need no tenant state: schemas, one factory.yaml, the schema version, agent
/// names unique with at most one foreman, and references to agents of the tree.
fn check_tree(
    parsed: &[Parsed],
    has_factory: bool,
    schema_version: &str,
    diagnostics: &mut Diagnostics,
) {
    if !has_factory {
        diagnostics.push(
            "factory.yaml",
            (1, 1),
            "FF_MISSING_FACTORY_FILE",
            "the tree has no factory.yaml".to_owned(),
        );
    }
    if !schemas::VERSIONS.contains(&schema_version) {
        if let Some(f) = parsed.iter().find(|p| p.kind == Kind::Factory) {
            diagnostics.push(
                &f.path,
                f.position("/schema_version"),
                "FF_UNSUPPORTED_SCHEMA_VERSION",
                format!(
                    "schema_version {schema_version:?} is not supported; use {CURRENT_VERSION}"
                ),
            );
        }
        return;
    }
    for file in parsed {
        if file.value.is_null() {
            diagnostics.push(
                &file.path,
                (1, 1),
                "FF_EMPTY_FILE",
                format!("{} is empty", file.path),
            );
            continue;
        }
        for v in schemas::check(file.kind.schema(), &file.value) {
            diagnostics.push(&file.path, file.position(&v.pointer), v.code, v.message);
        }
    }
    let mut agents: BTreeMap<&str, &Parsed> = BTreeMap::new();
    let mut foreman: Option<&str> = None;
    for file in parsed.iter().filter(|p| p.kind == Kind::Agent) {
        let Some(name) = file.value.get("name").and_then(Value::as_str) else {
            continue;
        };
        if agents.insert(name, file).is_some() {
            diagnostics.push(
                &file.path,
                file.position("/name"),
                "FF_DUPLICATE_NAME",
                format!("another agent is already named {name:?}"),
            );
        }
        if file.value.get("agent_type").and_then(Value::as_str) == Some("FOREMAN") {
            match foreman {
                Some(first) => diagnostics.push(
                    &file.path,
                    file.position("/agent_type"),
                    "FF_MULTIPLE_FOREMEN",
                    format!("{first:?} is already the factory's foreman"),
                ),
                None => foreman = Some(name),
            }
        }
    }
    for file in parsed
        .iter()
        .filter(|p| matches!(p.kind, Kind::Automation | Kind::Scorer))
    {
        if let Some(agent) = file.value.get("agent").and_then(Value::as_str)
            && !agent.trim().is_empty()
            && !agents.contains_key(agent)
        {
            diagnostics.push(
                &file.path,
                file.position("/agent"),
                "FF_UNKNOWN_AGENT",
                format!("no agent of the tree is named {agent:?}"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, content: &str) -> File {
        File {
            path: path.to_owned(),
            content: content.to_owned(),
        }
    }

    const FACTORY: &str = "schema_version: v1alpha1\nname: Web App Factory\ncode_forge: GITHUB\n\
        repositories:\n  - owner: warp-mock\n    repo: web-app\nagent_defaults:\n  secrets:\n    - name: NPM_TOKEN\n";
    const AGENT: &str = "---\nname: triage\nagent_type: FOREMAN\nenvironment: web-app\n---\nTriage incoming tickets.\n";

    #[test]
    fn a_clean_tree_is_valid_and_lists_what_it_did_not_resolve() {
        let answer = validate(&[
            file("factory.yaml", FACTORY),
            file("agents/triage/agent.md", AGENT),
            file(
                "automations/linear.yaml",
                "name: linear-intake\nagent: triage\ntriggers:\n  - type: linear\n    filter:\n      teams: [Web]\n",
            ),
        ]);
        assert_eq!(answer["valid"], true, "{answer:#}");
        assert_eq!(answer["schema_version"], "v1alpha1");
        let kinds: Vec<&str> = answer["deferred_resolutions"]
            .as_array()
            .expect("deferred")
            .iter()
            .filter_map(|d| d["kind"].as_str())
            .collect();
        assert_eq!(
            kinds,
            ["secret_name", "environment_name", "linear_name_alias"]
        );
        assert_eq!(
            answer["deferred_resolutions"][2]["field"],
            "triggers[0].filter.teams"
        );
        assert_eq!(answer["validation_scope"]["state_independent"], "checked");
    }

    #[test]
    fn problems_are_located_in_their_file() {
        let answer = validate(&[
            file("factory.yaml", "name: x\ncode_forge: SVN\ncolour: blue\n"),
            file("agents/a/agent.md", "---\nname: a\nmodel: 3\n---\n"),
            file("scorers/s.yaml", "name: s\nagent: nobody\n"),
            file("README.md", "# hi"),
        ]);
        assert_eq!(answer["valid"], false);
        let found: Vec<(String, u64, u64, String)> = answer["diagnostics"]
            .as_array()
            .expect("diagnostics")
            .iter()
            .map(|d| {
                (
                    d["path"].as_str().unwrap_or("").to_owned(),
                    d["line"].as_u64().unwrap_or(0),
                    d["column"].as_u64().unwrap_or(0),
                    d["code"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        let has = |path: &str, line: u64, code: &str| {
            found
                .iter()
                .any(|(p, l, _, c)| p == path && *l == line && c == code)
        };
        assert!(has("README.md", 1, "FF_UNKNOWN_FILE"), "{found:?}");
        assert!(has("factory.yaml", 2, "FF_INVALID_VALUE"), "{found:?}");
        assert!(has("factory.yaml", 3, "FF_UNKNOWN_FIELD"), "{found:?}");
        assert!(has("agents/a/agent.md", 3, "FF_INVALID_TYPE"), "{found:?}");
        assert!(has("scorers/s.yaml", 2, "FF_UNKNOWN_AGENT"), "{found:?}");
    }

    #[test]
    fn a_file_that_does_not_parse_stops_the_tree_checks() {
        let answer = validate(&[
            file("factory.yaml", "name: x\n  bad: indentation\n"),
            file(
                "runners/r.json",
                "{\"name\": \"r\",\n \"max_concurrent_runs\": }",
            ),
        ]);
        assert_eq!(answer["valid"], false);
        assert_eq!(answer["validation_scope"]["state_independent"], "not_run");
        let diagnostics = answer["diagnostics"].as_array().expect("diagnostics");
        assert_eq!(diagnostics.len(), 2, "{diagnostics:?}");
        assert_eq!(diagnostics[0]["line"], 2);
        assert_eq!(diagnostics[1]["path"], "runners/r.json");
        assert_eq!(diagnostics[1]["line"], 2);
    }

    #[test]
    fn the_tree_needs_one_factory_file_and_a_known_version() {
        let answer = validate(&[]);
        assert_eq!(answer["diagnostics"][0]["code"], "FF_MISSING_FACTORY_FILE");
        assert_eq!(answer["validation_scope"]["parser"], "not_run");
        let answer = validate(&[file("factory.yaml", "schema_version: v9\nname: x\n")]);
        assert_eq!(answer["schema_version"], "v9");
        assert_eq!(
            answer["diagnostics"][0]["code"],
            "FF_UNSUPPORTED_SCHEMA_VERSION"
        );
        assert_eq!(answer["diagnostics"][0]["line"], 1);
        let answer = validate(&[file("../factory.yaml", "name: x")]);
        assert_eq!(answer["diagnostics"][0]["code"], "FF_INVALID_PATH");
    }
}
