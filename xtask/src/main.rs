//! Build tasks of the Oz API SDK.
//!
//! - `cargo xtask regen [--check]`: generate `oz-api/src/generated.rs` from `openapi.json`.
//! - `cargo xtask spec-diff FILE`: compare `openapi.json` with another OpenAPI document.
//! - `cargo xtask surface-diff FILE`: list what an official SDK's surface file has that
//!   `openapi.json` lacks.
#![forbid(unsafe_code)]

mod docs;
mod forward_compat;
mod generate;
mod normalise;
mod redaction;
mod spec_diff;
mod surface;
mod unions;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage:
  cargo xtask regen [--check]     regenerate oz-api/src/generated.rs from openapi.json
                                  (--check: fail with a diff when the checked-in file is stale)
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
        ["regen"] => regen(&root, false),
        ["regen", "--check"] => regen(&root, true),
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

fn regen(root: &Path, check: bool) -> Result<ExitCode> {
    let spec_path = root.join("openapi.json");
    let out_path = root.join("oz-api/src/generated.rs");
    Ok(match regen_files(&spec_path, &out_path, check)? {
        Freshness::Written(lines) => {
            println!("wrote {} ({lines} lines)", out_path.display());
            ExitCode::SUCCESS
        }
        Freshness::UpToDate => {
            println!("{} is up to date", out_path.display());
            ExitCode::SUCCESS
        }
        Freshness::Stale(diff) => {
            eprintln!("{diff}");
            eprintln!(
                "{} is stale: run `cargo xtask regen` and commit the result",
                out_path.display()
            );
            ExitCode::from(1)
        }
    })
}

/// What `regen` found or did.
#[derive(Debug)]
enum Freshness {
    Written(usize),
    UpToDate,
    /// The unified diff from the checked-in file to the fresh output.
    Stale(String),
}

fn regen_files(spec_path: &Path, out_path: &Path, check: bool) -> Result<Freshness> {
    let text = std::fs::read_to_string(spec_path)
        .with_context(|| format!("reading {}", spec_path.display()))?;
    let fresh = generate::generate(&text)?;
    if !check {
        std::fs::write(out_path, &fresh)
            .with_context(|| format!("writing {}", out_path.display()))?;
        return Ok(Freshness::Written(fresh.lines().count()));
    }
    let current = std::fs::read_to_string(out_path).unwrap_or_default();
    if current == fresh {
        return Ok(Freshness::UpToDate);
    }
    let name = out_path.display().to_string();
    let diff = similar::TextDiff::from_lines(&current, &fresh)
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("{name} (checked in)"),
            &format!("{name} (from the spec)"),
        )
        .to_string();
    Ok(Freshness::Stale(diff))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"{"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
        "paths": {"/runs/{runId}": {"get": {"operationId": "get_run",
            "parameters": [{"name": "runId", "in": "path", "required": true, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "ok", "content": {"application/json":
                {"schema": {"type": "object", "properties": {"id": {"type": "string"}}}}}}}}}}}"#;

    #[test]
    fn check_fails_with_a_diff_when_stale_and_passes_when_fresh() {
        let dir = std::env::temp_dir().join(format!("xtask-regen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let spec = dir.join("openapi.json");
        let out = dir.join("generated.rs");
        std::fs::write(&spec, SPEC).unwrap();

        std::fs::write(&out, "// old output\n").unwrap();
        match regen_files(&spec, &out, true).unwrap() {
            Freshness::Stale(diff) => {
                assert!(diff.contains("-// old output"), "{diff}");
                assert!(diff.contains("+pub mod types"), "{diff}");
            }
            other => panic!("expected a stale report, got {other:?}"),
        }
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "// old output\n");

        assert!(matches!(
            regen_files(&spec, &out, false).unwrap(),
            Freshness::Written(_)
        ));
        assert!(matches!(
            regen_files(&spec, &out, true).unwrap(),
            Freshness::UpToDate
        ));

        // A spec change makes the written file stale again.
        std::fs::write(&spec, SPEC.replace("\"id\"", "\"run_id\"")).unwrap();
        assert!(matches!(
            regen_files(&spec, &out, true).unwrap(),
            Freshness::Stale(_)
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
