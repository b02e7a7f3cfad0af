//! What the generated client costs to build: a clean `cargo build -p oz-api` in a temporary
//! target directory, and the size of the generated file.

use std::process::{Command, Stdio};
use std::time::Instant;

use crate::Result;
use crate::report::{BUILD_END, BUILD_START};

const GENERATED: &str = "oz-api/src/generated.rs";

/// One clean build of `oz-api`.
#[derive(Debug, Clone)]
pub(crate) struct BuildCost {
    pub(crate) date: chrono::DateTime<chrono::Utc>,
    pub(crate) seconds: f64,
    /// Crates compiled, `oz-api` included.
    pub(crate) crates: usize,
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

/// Builds `oz-api` (debug, its default features) from scratch in a temporary target directory
/// under the system's temporary directory, then removes it.
pub(crate) fn measure() -> Result<BuildCost> {
    let root = crate::workspace_root();
    let target = tempfile::Builder::new()
        .prefix("oz-bench-build-cost-")
        .tempdir()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let load_at_start = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    let started = Instant::now();
    let output = Command::new(cargo)
        .args(["build", "-p", "oz-api", "--locked"])
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", target.path())
        .env_remove("RUSTFLAGS")
        .stdin(Stdio::null())
        .output()?;
    let seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("cargo build -p oz-api failed: {stderr}").into());
    }
    let crates = stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("Compiling "))
        .count();
    let generated = root.join(GENERATED);
    Ok(BuildCost {
        date: chrono::Utc::now(),
        seconds,
        crates,
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
             | figure | value |\n\
             |---|---|\n\
             | clean `cargo build -p oz-api` (debug, fresh `CARGO_TARGET_DIR`) | {:.0} s ({:.1} min) |\n\
             | crates compiled | {} |\n\
             | `{GENERATED}` | {} lines, {:.1} MiB |\n\n\
             Measured {} on {} cores{load}. The machine is shared with other jobs that built and \
             tested at the same time, so this is an upper bound of what an idle machine takes.\n\
             {BUILD_END}",
            crate::COMMAND,
            self.seconds,
            self.seconds / 60.0,
            self.crates,
            self.generated_lines,
            crate::rss::mib(self.generated_bytes),
            self.date.format("%Y-%m-%d %H:%M UTC"),
            self.cores,
        )
    }
}
