//! Build tasks of the Oz API SDK.
//!
//! The root `openapi.json` is the single source of truth. Generated from it, checked in and
//! never edited by hand, all written by `cargo xtask regen`:
//! - `oz-api/src/generated.rs`, the client (see `generate`);
//! - `oz-api-ext/src/generated_pagination.rs`, the paginator's glue for every operation marked
//!   `x-oz-paged` (see `paged`);
//! - `tests/harness/dispatch_table.rs`, the conformance harness's typed call of every operation
//!   (see `dispatch_table`);
//! - `oz-mock/openapi.json`, a byte copy of the spec (the simulator embeds the spec, and a
//!   published crate can only embed files inside its own folder).
//!
//! - `cargo xtask regen [--check | --changelog]`: write those files from `openapi.json` and
//!   report what changed for users of the crates (see `api_report`); `--check` writes nothing
//!   and fails with a diff when one is stale; `--changelog` also records the report in
//!   `CHANGELOG.md`.
//! - `cargo xtask api-diff OLD.rs NEW.rs` / `cargo xtask api-diff --against REV`: the same
//!   report between two versions of the generated file.
//! - `cargo xtask spec-diff FILE`: compare `openapi.json` with another OpenAPI document.
//! - `cargo xtask surface-diff FILE`: list what an official SDK's surface file has that
//!   `openapi.json` lacks.
#![forbid(unsafe_code)]

mod api_report;
mod client_model;
mod decode;
mod dispatch_table;
mod docs;
mod examples;
mod forward_compat;
mod generate;
mod merge_arms;
mod non_exhaustive;
mod normalise;
mod null_collections;
mod owned_send;
mod paged;
mod path_params;
mod redaction;
mod request_options;
mod setters;
mod spec_diff;
mod surface;
mod unions;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage:
  cargo xtask regen [--check]     regenerate oz-api/src/generated.rs, oz-api-ext's pagination
                                  glue and the conformance dispatch table from openapi.json, copy
                                  openapi.json to oz-mock/openapi.json, and report the changes
                                  to the public API with the release they call for
                                  (--check: write nothing, fail with a diff when a file is
                                  stale)
  cargo xtask regen --changelog   regen, and add the report to the Unreleased section of
                                  CHANGELOG.md
  cargo xtask api-diff OLD.rs NEW.rs
                                  report the public API changes between two generated files
                                  (exit 1 when one is breaking)
  cargo xtask api-diff --against REV
                                  the same, from oz-api/src/generated.rs at git revision REV
                                  to the working tree
  cargo xtask spec-diff FILE      list what FILE (YAML or JSON) and openapi.json do not share
                                  (exit 1 when FILE has something openapi.json lacks)
  cargo xtask surface-diff FILE   list what an SDK surface file (JSON) has that openapi.json lacks
                                  (exit 1 when there is anything)
  cargo xtask passes              list the normalisation passes applied before generation";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode> {
    let root = workspace_root();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["regen"] => regen(&root, RegenMode::Write),
        ["regen", "--check"] => regen(&root, RegenMode::Check),
        ["regen", "--changelog"] => regen(&root, RegenMode::Changelog),
        ["api-diff", "--against", rev] => {
            let old = generated_at_revision(&root, rev)?;
            let new = read(&root.join(GENERATED))?;
            api_diff(&old, &new)
        }
        ["api-diff", old, new] => api_diff(&read(Path::new(old))?, &read(Path::new(new))?),
        ["spec-diff", other] => {
            let ours = spec_diff::load_document(&root.join("openapi.json"))?;
            let theirs = spec_diff::load_document(Path::new(other))?;
            let report = spec_diff::diff(&ours, &theirs);
            print!("{}", report.render("openapi.json", other));
            Ok(if report.missing_on_our_side().is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        ["surface-diff", other] => {
            let ours = spec_diff::load_document(&root.join("openapi.json"))?;
            let theirs = spec_diff::load_document(Path::new(other))?;
            let missing = surface::missing(&ours, &theirs);
            println!("in {other}, missing from openapi.json: {}", missing.len());
            for fact in &missing {
                println!("  {fact}");
            }
            Ok(if missing.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        ["passes"] => {
            for pass in normalise::PASSES {
                println!("{}\n    {}", pass.name, pass.reason);
            }
            Ok(ExitCode::SUCCESS)
        }
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        _ => bail!("unknown arguments {args:?}\n{USAGE}"),
    }
}

/// The directory holding the workspace `Cargo.toml` (the parent of this crate).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// The generated client, relative to the workspace root.
const GENERATED: &str = "oz-api/src/generated.rs";
/// The simulator's copy of openapi.json, relative to the workspace root.
const MOCK_SPEC: &str = "oz-mock/openapi.json";
/// The version the API report bumps from: the workspace's, which this crate shares.
const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RegenMode {
    Write,
    Check,
    Changelog,
}

fn regen(root: &Path, mode: RegenMode) -> Result<ExitCode> {
    let spec_path = root.join("openapi.json");
    let out_path = root.join(GENERATED);
    let check = mode == RegenMode::Check;
    let regenerated = regen_files(&spec_path, &out_path, check)?;
    let mut code = ExitCode::SUCCESS;
    let mut report_stale = |path: &Path, freshness: &Freshness| match freshness {
        Freshness::Written(lines) => println!("wrote {} ({lines} lines)", path.display()),
        Freshness::UpToDate => println!("{} is up to date", path.display()),
        Freshness::Stale(diff) => {
            eprintln!("{diff}");
            eprintln!(
                "{} is stale: run `cargo xtask regen` and commit the result",
                path.display()
            );
            code = ExitCode::from(1);
        }
    };
    report_stale(&out_path, &regenerated.freshness);
    let spec_text = read(&spec_path)?;
    let mut glue_outputs = Vec::new();
    for (relative, fresh) in glue(&spec_text, &regenerated.fresh)? {
        let path = root.join(relative);
        let output = refresh(&path, fresh, check)?;
        report_stale(&path, &output.freshness);
        glue_outputs.push((relative, output));
    }
    match copy_spec(&spec_path, &root.join(MOCK_SPEC), check)? {
        SpecCopy::Written => println!("wrote {MOCK_SPEC} (a copy of openapi.json)"),
        SpecCopy::UpToDate => println!("{MOCK_SPEC} is up to date"),
        SpecCopy::Stale => {
            eprintln!("{MOCK_SPEC} is stale, run cargo xtask regen");
            code = ExitCode::from(1);
        }
    }
    let pagination = glue_outputs
        .iter()
        .find(|(relative, _)| *relative == paged::OUTPUT)
        .map(|(_, output)| output);
    let report = match api_changes(&regenerated, pagination) {
        Ok(report) => report,
        Err(err) => {
            println!("no API report: {err:#}");
            return Ok(code);
        }
    };
    match &report {
        Some(report) => print!("{}", report.render(VERSION)),
        None => println!("no generated code changed: no change to the public API"),
    }
    if mode == RegenMode::Changelog {
        let path = root.join("CHANGELOG.md");
        match &report {
            Some(report) => {
                let entry = report.changelog_entry(VERSION, &api_report::today_utc());
                record_in_changelog(&path, &entry)?;
                println!(
                    "added the report to the Unreleased section of {}",
                    path.display()
                );
            }
            None => println!("the generated code did not change: nothing to add to CHANGELOG.md"),
        }
    }
    Ok(code)
}

/// The glue generated beside the client from the spec and the client's fresh source: each
/// file's path relative to the workspace root, and its text.
fn glue(spec_text: &str, client_source: &str) -> Result<Vec<(&'static str, String)>> {
    let spec: serde_json::Value =
        serde_json::from_str(spec_text).context("openapi.json is not valid JSON")?;
    let client = syn::parse_file(client_source).context("the generated client does not parse")?;
    let client = client_model::ClientModel::read(&client)?;
    let lists = paged::paged_lists(&spec)?;
    Ok(vec![
        (paged::OUTPUT, paged::render(&lists, &client)?),
        (
            dispatch_table::OUTPUT,
            dispatch_table::render(&spec, &client, &lists)?,
        ),
    ])
}

/// What changed for users in the client and the pagination glue, or `None` when neither
/// changed.
fn api_changes(
    client: &Regenerated,
    pagination: Option<&Regenerated>,
) -> Result<Option<api_report::Report>> {
    let mut report = client.report()?;
    if let Some(pagination) = pagination
        && let Some(previous) = &pagination.previous
        && *previous != pagination.fresh
    {
        let paged = api_report::compare_paged_sources(previous, &pagination.fresh)?;
        report
            .get_or_insert_with(api_report::Report::default)
            .changes
            .extend(paged.changes);
    }
    Ok(report)
}

/// Puts `entry` first in the Unreleased section of the changelog at `path`, which is created
/// when missing.
fn record_in_changelog(path: &Path, entry: &str) -> Result<()> {
    let current = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            api_report::CHANGELOG_HEADER.to_owned()
        }
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    std::fs::write(path, api_report::insert_unreleased(&current, entry))
        .with_context(|| format!("writing {}", path.display()))
}

fn api_diff(old: &str, new: &str) -> Result<ExitCode> {
    let report = api_report::compare_sources(old, new)?;
    print!("{}", report.render(VERSION));
    Ok(if report.breaking() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// The generated file as committed at `rev`.
fn generated_at_revision(root: &Path, rev: &str) -> Result<String> {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .arg("show")
        .arg(format!("{rev}:{GENERATED}"))
        .output()
        .context("running git")?;
    if !output.status.success() {
        bail!(
            "git show {rev}:{GENERATED} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8(output.stdout).with_context(|| format!("{GENERATED} at {rev} is not UTF-8"))
}

/// What `regen` found or did.
#[derive(Debug)]
enum Freshness {
    Written(usize),
    UpToDate,
    /// The unified diff from the checked-in file to the fresh output.
    Stale(String),
}

/// The outcome of one generation, with both versions of the file.
#[derive(Debug)]
struct Regenerated {
    freshness: Freshness,
    /// The file as it was before, when there was one.
    previous: Option<String>,
    fresh: String,
}

impl Regenerated {
    /// What changed for users, or `None` when the file did not change or did not exist.
    fn report(&self) -> Result<Option<api_report::Report>> {
        match &self.previous {
            Some(previous) if *previous != self.fresh => {
                api_report::compare_sources(previous, &self.fresh).map(Some)
            }
            _ => Ok(None),
        }
    }
}

fn regen_files(spec_path: &Path, out_path: &Path, check: bool) -> Result<Regenerated> {
    let text = read(spec_path)?;
    refresh(out_path, generate::generate(&text)?, check)
}

/// Writes `fresh` to `path` (`check`: only compares them, with a diff when they differ).
fn refresh(path: &Path, fresh: String, check: bool) -> Result<Regenerated> {
    let previous = std::fs::read_to_string(path).ok();
    let freshness = if !check {
        std::fs::write(path, &fresh).with_context(|| format!("writing {}", path.display()))?;
        Freshness::Written(fresh.lines().count())
    } else if previous.as_deref() == Some(fresh.as_str()) {
        Freshness::UpToDate
    } else {
        let name = path.display().to_string();
        let diff = similar::TextDiff::from_lines(previous.as_deref().unwrap_or_default(), &fresh)
            .unified_diff()
            .context_radius(3)
            .header(
                &format!("{name} (checked in)"),
                &format!("{name} (from the spec)"),
            )
            .to_string();
        Freshness::Stale(diff)
    };
    Ok(Regenerated {
        freshness,
        previous,
        fresh,
    })
}

/// What `regen` found or did with the simulator's copy of the spec.
#[derive(Debug, PartialEq, Eq)]
enum SpecCopy {
    Written,
    UpToDate,
    Stale,
}

/// Makes `copy` a byte copy of `spec` (`check`: only tells whether it is one).
fn copy_spec(spec: &Path, copy: &Path, check: bool) -> Result<SpecCopy> {
    let bytes = std::fs::read(spec).with_context(|| format!("reading {}", spec.display()))?;
    if std::fs::read(copy).is_ok_and(|current| current == bytes) {
        return Ok(SpecCopy::UpToDate);
    }
    if check {
        return Ok(SpecCopy::Stale);
    }
    std::fs::write(copy, &bytes).with_context(|| format!("writing {}", copy.display()))?;
    Ok(SpecCopy::Written)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"{"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
        "paths": {"/runs/{runId}": {"get": {"operationId": "get_run",
            "parameters": [{"name": "runId", "in": "path", "required": true, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "ok", "content": {"application/json":
                {"schema": {"type": "object", "properties": {"id": {"type": "string"}}}}}}}}}}}"#;

    /// An empty directory of its own for one test.
    fn scratch_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn check_fails_with_a_diff_when_stale_and_passes_when_fresh() {
        let dir = scratch_dir("regen");
        let spec = dir.join("openapi.json");
        let out = dir.join("generated.rs");
        std::fs::write(&spec, SPEC).unwrap();

        std::fs::write(&out, "// old output\n").unwrap();
        match regen_files(&spec, &out, true).unwrap().freshness {
            Freshness::Stale(diff) => {
                assert!(diff.contains("-// old output"), "{diff}");
                assert!(diff.contains("+pub mod types"), "{diff}");
            }
            other => panic!("expected a stale report, got {other:?}"),
        }
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "// old output\n");

        assert!(matches!(
            regen_files(&spec, &out, false).unwrap().freshness,
            Freshness::Written(_)
        ));
        assert!(matches!(
            regen_files(&spec, &out, true).unwrap().freshness,
            Freshness::UpToDate
        ));

        // A spec change makes the written file stale again, and the report names it.
        std::fs::write(&spec, SPEC.replace("\"id\"", "\"run_id\"")).unwrap();
        let stale = regen_files(&spec, &out, true).unwrap();
        assert!(matches!(stale.freshness, Freshness::Stale(_)));
        let report = stale.report().unwrap().expect("the file changed");
        assert_eq!(report.verdict(), api_report::Verdict::Breaking(1));
        insta::assert_snapshot!(report.render("0.1.0"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_simulators_copy_of_the_spec_is_checked_byte_for_byte_and_rewritten() {
        let dir = scratch_dir("spec-copy");
        let spec = dir.join("openapi.json");
        let copy = dir.join("copy.json");
        std::fs::write(&spec, SPEC).unwrap();

        assert_eq!(copy_spec(&spec, &copy, true).unwrap(), SpecCopy::Stale);
        assert!(!copy.exists(), "--check writes nothing");
        assert_eq!(copy_spec(&spec, &copy, false).unwrap(), SpecCopy::Written);
        assert_eq!(std::fs::read(&copy).unwrap(), SPEC.as_bytes());
        assert_eq!(copy_spec(&spec, &copy, true).unwrap(), SpecCopy::UpToDate);

        // One byte of difference, even whitespace only, is stale.
        std::fs::write(&copy, format!("{SPEC}\n")).unwrap();
        assert_eq!(copy_spec(&spec, &copy, true).unwrap(), SpecCopy::Stale);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn changelog_entries_are_recorded_newest_first_in_a_changelog_made_when_missing() {
        let dir = scratch_dir("changelog");
        let path = dir.join("CHANGELOG.md");
        record_in_changelog(&path, "### First\n\n- a\n").unwrap();
        record_in_changelog(&path, "### Second\n\n- b\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# Changelog\n\n## [Unreleased]\n\n### Second\n\n- b\n\n### First\n\n- a\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The real spec with one more cursor-paged list, `GET /widgets` (`list_widgets`), marked
    /// `x-oz-paged` and nothing else.
    fn spec_with_a_paged_widget_list() -> serde_json::Value {
        let mut spec: serde_json::Value =
            serde_json::from_str(&read(&workspace_root().join("openapi.json")).unwrap()).unwrap();
        spec["paths"]["/widgets"] = serde_json::json!({"get": {
            "operationId": "list_widgets",
            "summary": "List widgets",
            "description": "One page of widgets.",
            "parameters": [
                {"name": "cursor", "in": "query", "description": "Cursor of the page.",
                 "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "description": "Page size.",
                 "schema": {"type": "integer", "minimum": 1}}
            ],
            "responses": {"200": {"description": "One page of widgets.", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ListWidgetsResponse"}}}}},
            "x-oz-paged": {"items": "widgets"}
        }});
        let schemas = &mut spec["components"]["schemas"];
        schemas["Widget"] = serde_json::json!({"type": "object", "description": "A widget.",
            "required": ["id"], "properties": {"id": {"type": "string", "description": "Its id."}}});
        schemas["ListWidgetsResponse"] = serde_json::json!({"type": "object",
            "description": "One page of widgets.", "required": ["widgets", "page_info"],
            "properties": {
                "widgets": {"type": "array", "items": {"$ref": "#/components/schemas/Widget"},
                            "description": "Widgets on this page."},
                "page_info": {"$ref": "#/components/schemas/PageInfo"}}});
        spec
    }

    /// The item of `source` (a generated file) that mentions `needle`, with its doc comment.
    fn item_mentioning(source: &str, needle: &str) -> String {
        let file = syn::parse_file(source).unwrap();
        let item = file
            .items
            .into_iter()
            .find(|item| {
                quote::ToTokens::to_token_stream(item)
                    .to_string()
                    .contains(needle)
            })
            .unwrap_or_else(|| panic!("no item mentions {needle}"));
        prettyplease::unparse(&syn::File {
            shebang: None,
            attrs: vec![],
            items: vec![item],
        })
    }

    /// Adding a cursor-paged list is a change to openapi.json alone: regen writes its
    /// `CursorPaged` impl, its typed call in the conformance harness, and reports the change as
    /// additive.
    #[test]
    fn a_paged_list_added_to_a_copy_of_the_spec_gets_its_glue_from_regen() {
        let dir = scratch_dir("paged");
        let spec_path = dir.join("openapi.json");
        let client_path = dir.join("generated.rs");
        let before = read(&workspace_root().join("openapi.json")).unwrap();
        std::fs::write(&spec_path, &before).unwrap();
        let old_client = regen_files(&spec_path, &client_path, false).unwrap();
        let old_glue = glue(&before, &old_client.fresh).unwrap();

        let after = serde_json::to_string_pretty(&spec_with_a_paged_widget_list()).unwrap();
        std::fs::write(&spec_path, &after).unwrap();
        let new_client = regen_files(&spec_path, &client_path, false).unwrap();
        let new_glue = glue(&after, &new_client.fresh).unwrap();

        let [(pagination_path, old_pagination), (dispatch_path, _)] = &old_glue[..] else {
            panic!("two glue files");
        };
        let [(_, new_pagination), (_, new_dispatch)] = &new_glue[..] else {
            panic!("two glue files");
        };
        assert_eq!(*pagination_path, paged::OUTPUT);
        assert_eq!(*dispatch_path, dispatch_table::OUTPUT);
        insta::assert_snapshot!(
            "paged_widgets_impl",
            item_mentioning(new_pagination, "ListWidgets")
        );
        insta::assert_snapshot!(
            "paged_widgets_dispatch",
            [
                item_mentioning(new_dispatch, "fn list_widgets"),
                item_mentioning(new_dispatch, "fn paged_list"),
                item_mentioning(new_dispatch, "fn items"),
            ]
            .join("\n")
        );

        let pagination = Regenerated {
            freshness: Freshness::Written(0),
            previous: Some(old_pagination.clone()),
            fresh: new_pagination.clone(),
        };
        let report = api_changes(&new_client, Some(&pagination))
            .unwrap()
            .expect("a report");
        assert_eq!(report.verdict(), api_report::Verdict::Additive);
        insta::assert_snapshot!("paged_widgets_report", report.render("0.1.0"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_paged_list_that_is_no_longer_marked_is_a_breaking_change() {
        let spec =
            serde_json::from_str(&read(&workspace_root().join("openapi.json")).unwrap()).unwrap();
        let client = read(&workspace_root().join(GENERATED)).unwrap();
        let model = client_model::ClientModel::read(&syn::parse_file(&client).unwrap()).unwrap();
        let lists = paged::paged_lists(&spec).unwrap();
        let all = paged::render(&lists, &model).unwrap();
        let fewer = paged::render(&lists[1..], &model).unwrap();
        let report = api_report::compare_paged_sources(&all, &fewer).unwrap();
        assert_eq!(report.verdict(), api_report::Verdict::Breaking(1));
        insta::assert_snapshot!(report.render("0.1.0"));
        assert_eq!(
            api_report::compare_paged_sources(&all, &all)
                .unwrap()
                .verdict(),
            api_report::Verdict::NoChange
        );
    }

    #[test]
    fn the_committed_simulator_spec_is_the_root_spec() {
        let root = workspace_root();
        assert_eq!(
            copy_spec(&root.join("openapi.json"), &root.join(MOCK_SPEC), true).unwrap(),
            SpecCopy::UpToDate,
            "{MOCK_SPEC} is stale, run cargo xtask regen"
        );
    }
}
