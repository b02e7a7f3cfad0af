//! What depending on the SDK costs to build: a minimal application that uses `oz-api-ext`,
//! built from a fresh target directory (crates already downloaded, debug), once with the
//! default TLS stack (rustls on `ring`) and once with rustls on `aws-lc-rs` (reqwest's own
//! rustls setup, the stack the SDK used before) as the baseline of the same run; then the
//! rebuild after the application's `main.rs` changed. A third build shows the two choices an
//! application can make for a shorter build: oz-api-ext without HTTP/2 (`default-features =
//! false, features = ["rustls"]`) and `idna_adapter` pinned to 1.1 in its lock file, which
//! gives `url` the unicode-rs back end instead of ICU4X (the pin needs the registry; without
//! it the figure is left out). Last, in the same run, a bare application that does the same
//! job by hand — one GET and a JSON decode on `reqwest` (its default features: its own rustls,
//! HTTP/2), `tokio` and `serde_json` — shows what the SDK adds to a build over the HTTP stack
//! any client of the API needs.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::Result;
use crate::report::{BUILD_END, BUILD_START};

const GENERATED: &str = "oz-api/src/generated.rs";

/// The application: a listing through the workflows crate, as a user's first program would.
const MAIN_RS: &str = r#"use futures::TryStreamExt;
use oz_api_ext::PaginateExt;
use oz_api_ext::oz_api::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    let runs: Vec<_> = client.list_runs().items().max_items(10).try_collect().await?;
    println!("{} runs", runs.len());
    Ok(())
}
"#;

/// The bare application: the same job by hand, one GET and a decode.
const BARE_MAIN_RS: &str = r#"#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = std::env::var("WARP_API_KEY")?;
    let runs: serde_json::Value = reqwest::Client::new()
        .get("https://app.warp.dev/api/v1/agent/runs?limit=10")
        .bearer_auth(key)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    println!("{} runs", runs["runs"].as_array().map_or(0, Vec::len));
    Ok(())
}
"#;

/// One clean build of the application.
#[derive(Debug, Clone)]
pub(crate) struct AppBuild {
    pub(crate) seconds: f64,
    /// Compilation units cargo reported (`Compiling …` lines), the application included.
    pub(crate) units: usize,
}

/// The figures of one `--build-cost` run.
#[derive(Debug, Clone)]
pub(crate) struct BuildCost {
    pub(crate) date: chrono::DateTime<chrono::Utc>,
    /// The default features (rustls on ring).
    pub(crate) ring: AppBuild,
    /// The same application on rustls with aws-lc-rs: the baseline.
    pub(crate) aws_lc: AppBuild,
    /// Without HTTP/2 and with `idna_adapter` 1.1, when the pin could be made.
    pub(crate) lean: Option<AppBuild>,
    /// The bare application on `reqwest`, `tokio` and `serde_json`, when its crates could be
    /// fetched.
    pub(crate) bare: Option<AppBuild>,
    /// Rebuild after `main.rs` changed, default features.
    pub(crate) incremental_seconds: f64,
    pub(crate) generated_lines: usize,
    pub(crate) generated_bytes: u64,
    pub(crate) load_at_start: Option<String>,
    pub(crate) cores: usize,
}

/// Lines of the generated client.
pub(crate) fn generated_lines() -> Result<usize> {
    let text = std::fs::read_to_string(crate::workspace_root().join(GENERATED))?;
    Ok(text.lines().count())
}

/// Writes the application into `dir`, depending on this workspace's `oz-api-ext` with the given
/// dependency settings, and the workspace's lock file so that no crate needs resolving.
fn write_app(dir: &Path, oz_api_ext: &str) -> Result<()> {
    let root = crate::workspace_root();
    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"oz-minimal-app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
             [dependencies]\noz-api-ext = {{ path = {:?}{oz_api_ext} }}\n\
             tokio = {{ version = \"1\", features = [\"macros\", \"rt-multi-thread\"] }}\n\
             futures = \"0.3\"\n\n[workspace]\n",
            root.join("oz-api-ext").display().to_string(),
        ),
    )?;
    std::fs::write(dir.join("src/main.rs"), MAIN_RS)?;
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock"))?;
    Ok(())
}

/// Writes the bare application into `dir`, with the workspace's lock file as a start.
fn write_bare_app(dir: &Path) -> Result<()> {
    let root = crate::workspace_root();
    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"bare-reqwest-app\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
         [dependencies]\nreqwest = { version = \"0.13\", features = [\"json\"] }\n\
         serde_json = \"1\"\n\
         tokio = { version = \"1\", features = [\"macros\", \"rt-multi-thread\"] }\n\n\
         [workspace]\n",
    )?;
    std::fs::write(dir.join("src/main.rs"), BARE_MAIN_RS)?;
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock"))?;
    Ok(())
}

/// `cargo fetch` in the application: downloads what its lock file needs and the workspace's
/// builds never fetched (aws-lc-rs, reqwest's default features).
fn fetch(app: &Path) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let fetch = Command::new(&cargo)
        .arg("fetch")
        .current_dir(app)
        .stdin(Stdio::null())
        .output()?;
    if !fetch.status.success() {
        let stderr = String::from_utf8_lossy(&fetch.stderr);
        return Err(format!("cargo fetch failed: {}", stderr.trim()).into());
    }
    Ok(())
}

/// `cargo update -p idna_adapter --precise 1.1.0` in the application (fetches the crates of the
/// unicode-rs back end from the registry when they are not downloaded yet).
fn pin_idna_adapter(app: &Path) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(&cargo)
        .args(["update", "-p", "idna_adapter", "--precise", "1.1.0"])
        .current_dir(app)
        .stdin(Stdio::null())
        .output()?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("cargo update of idna_adapter failed: {}", stderr.trim()).into());
    }
    fetch(app)
}

fn cargo_build(app: &Path, target: &Path) -> Result<AppBuild> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let started = Instant::now();
    let output = Command::new(cargo)
        .args(["build", "--offline"])
        .current_dir(app)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .stdin(Stdio::null())
        .output()?;
    let seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("cargo build of the minimal application failed: {stderr}").into());
    }
    let units = stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("Compiling "))
        .count();
    Ok(AppBuild { seconds, units })
}

/// Builds the application from scratch with each TLS stack, then once more after a change to
/// its `main.rs`. Temporary directories are removed afterwards.
pub(crate) fn measure() -> Result<BuildCost> {
    let load_at_start = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    let scratch = tempfile::Builder::new()
        .prefix("oz-bench-build-cost-")
        .tempdir()?;
    let (ring_app, aws_app) = (scratch.path().join("ring"), scratch.path().join("aws-lc"));
    write_app(&ring_app, "")?;
    write_app(
        &aws_app,
        ", default-features = false, features = [\"rustls-aws-lc\"]",
    )?;
    let lean_app = scratch.path().join("lean");
    write_app(
        &lean_app,
        ", default-features = false, features = [\"rustls\"]",
    )?;
    let pinned = pin_idna_adapter(&lean_app);
    if let Err(err) = &pinned {
        eprintln!("build cost: the lean build is left out: {err}");
    }
    fetch(&aws_app)?;
    let bare_app = scratch.path().join("bare");
    write_bare_app(&bare_app)?;
    let bare_fetched = fetch(&bare_app);
    if let Err(err) = &bare_fetched {
        eprintln!("build cost: the bare application is left out: {err}");
    }
    let ring_target = scratch.path().join("target-ring");
    let ring = cargo_build(&ring_app, &ring_target)?;
    let aws_lc = cargo_build(&aws_app, &scratch.path().join("target-aws-lc"))?;
    let lean = match pinned {
        Ok(()) => Some(cargo_build(&lean_app, &scratch.path().join("target-lean"))?),
        Err(_) => None,
    };
    let bare = match bare_fetched {
        Ok(()) => Some(cargo_build(&bare_app, &scratch.path().join("target-bare"))?),
        Err(_) => None,
    };
    std::fs::write(
        ring_app.join("src/main.rs"),
        MAIN_RS.replace("runs\", runs", "runs listed\", runs"),
    )?;
    let incremental_seconds = cargo_build(&ring_app, &ring_target)?.seconds;
    let generated = crate::workspace_root().join(GENERATED);
    Ok(BuildCost {
        date: chrono::Utc::now(),
        ring,
        aws_lc,
        lean,
        bare,
        incremental_seconds,
        generated_lines: generated_lines()?,
        generated_bytes: std::fs::metadata(generated)?.len(),
        load_at_start,
        cores: std::thread::available_parallelism().map_or(1, usize::from),
    })
}

impl BuildCost {
    /// The build block of `BENCHMARKS.md`, markers included.
    pub(crate) fn render(&self) -> String {
        let load = self
            .load_at_start
            .as_ref()
            .map(|l| format!(", load average {l} when it started"))
            .unwrap_or_default();
        format!(
            "{BUILD_START}\n\
             <!-- Written by `{} -- --build-cost`. -->\n\n\
             A minimal application using `oz-api-ext` (`list_runs().items()`), `cargo build` \
             (debug) from a fresh target directory, crates already downloaded:\n\n\
             | figure | value |\n\
             |---|---|\n\
             | clean build, default features (rustls on ring) | {:.0} s, {} units |\n\
             | clean build, `rustls-aws-lc` (the previous default), same run | {:.0} s, {} units |\n\
             | ratio ring / aws-lc (target ≤ 0.60) | {:.2} |\n\
             {}\
             {}\
             | rebuild after `main.rs` changed (target ≤ 2 s) | {:.1} s |\n\
             | `{GENERATED}` | {} lines, {:.1} MiB |\n\n\
             Measured {} on {} cores{load}.\n\
             {BUILD_END}",
            crate::COMMAND,
            self.ring.seconds,
            self.ring.units,
            self.aws_lc.seconds,
            self.aws_lc.units,
            self.ring.seconds / self.aws_lc.seconds,
            self.lean
                .as_ref()
                .map(|lean| format!(
                    "| clean build, an application's choices: no `http2` feature, `idna_adapter` \
                     1.1 pinned | {:.0} s, {} units |\n\
                     | ratio lean / aws-lc | {:.2} |\n",
                    lean.seconds,
                    lean.units,
                    lean.seconds / self.aws_lc.seconds
                ))
                .unwrap_or_default(),
            self.bare
                .as_ref()
                .map(|bare| format!(
                    "| clean build, a bare application doing the job by hand: one GET and a \
                     decode on `reqwest` (its own rustls, `http2`), `tokio`, `serde_json` | \
                     {:.0} s, {} units |\n\
                     | ratio default / bare (target ≤ 1.10) | {:.2} |\n",
                    bare.seconds,
                    bare.units,
                    self.ring.seconds / bare.seconds
                ))
                .unwrap_or_default(),
            self.incremental_seconds,
            self.generated_lines,
            crate::rss::mib(self.generated_bytes),
            self.date.format("%Y-%m-%d %H:%M UTC"),
            self.cores,
        )
    }
}
