//! The benchmark suite of the Oz API SDK, measured against the local simulator on loopback.
//!
//! `cargo bench -p oz-bench` runs every benchmark and rewrites the results section of
//! `BENCHMARKS.md` at the workspace root (machine, command, date and every figure). Each figure
//! is a ratio against a baseline measured in the same run, interleaved with it, and reported as
//! a median over many iterations: the machines this runs on are shared and noisy, and ratios
//! taken side by side survive that better than absolute times.
//!
//! The simulator runs in the parent process; every client-side measurement runs in a worker
//! process of its own (the same executable, started again with `OZ_BENCH_WORKER` set), so the
//! peak memory a worker reports is the client's alone and no benchmark disturbs another.
//!
//! Options, after `--`:
//!
//! - `--quick`: fewer iterations, a 128 MiB transcript instead of 1 GiB (a smoke run; the file
//!   is not written);
//! - `--only calls,decode,pagination,download,waiter,realtime`: run some benchmarks (the file is not
//!   written);
//! - `--build-cost`: also build a minimal application that depends on `oz-api-ext` from fresh
//!   target directories, with the default TLS stack and with `rustls-aws-lc` as the baseline,
//!   then after a change to its `main.rs` (minutes), and record it; without it the recorded
//!   build figures are kept;
//! - `--no-write`: print the results without touching `BENCHMARKS.md`.
#![forbid(unsafe_code)]

mod build_cost;
mod calls;
mod decode;
mod download;
mod machine;
mod pagination;
mod realtime;
mod report;
mod rss;
mod simulator;
mod stats;
mod waiter;
mod worker;

use std::path::PathBuf;
use std::process::ExitCode;

use report::Section;

/// Errors of the suite: anything that stops a benchmark is reported with its message.
pub(crate) type Result<T, E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;

/// The documented command.
pub(crate) const COMMAND: &str = "cargo bench -p oz-bench";

const BENCHMARKS: [&str; 6] = [
    "calls",
    "decode",
    "pagination",
    "download",
    "waiter",
    "realtime",
];

const USAGE: &str =
    "usage: cargo bench -p oz-bench [-- [--quick] [--only NAME,...] [--build-cost] [--no-write]]
benchmarks: calls, decode, pagination, download, waiter, realtime";

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) quick: bool,
    pub(crate) only: Option<Vec<String>>,
    pub(crate) build_cost: bool,
    pub(crate) write: bool,
}

impl Settings {
    fn parse(args: impl IntoIterator<Item = String>) -> Result<Settings, String> {
        let mut settings = Settings {
            quick: false,
            only: None,
            build_cost: false,
            write: true,
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                // Passed by `cargo bench` to every bench target.
                "--bench" => {}
                "--quick" => settings.quick = true,
                "--build-cost" => settings.build_cost = true,
                "--no-write" => settings.write = false,
                "--only" => {
                    let list = args.next().ok_or("--only needs a list of benchmarks")?;
                    let names: Vec<String> = list.split(',').map(|s| s.trim().to_owned()).collect();
                    if let Some(bad) = names.iter().find(|n| !BENCHMARKS.contains(&n.as_str())) {
                        return Err(format!("unknown benchmark {bad:?}"));
                    }
                    settings.only = Some(names);
                }
                "--help" | "-h" => return Err(String::new()),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(settings)
    }

    fn selected(&self, name: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|n| n == name))
    }

    /// Whether the run is complete enough to be recorded in `BENCHMARKS.md`.
    fn records(&self) -> bool {
        self.write && !self.quick && self.only.is_none()
    }
}

/// The workspace root (where `BENCHMARKS.md` lives).
pub(crate) fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// Runs the suite, or one worker when started as one.
pub fn run() -> ExitCode {
    if let Some(code) = worker::run_if_worker() {
        return code;
    }
    let settings = match Settings::parse(std::env::args().skip(1)) {
        Ok(settings) => settings,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("oz-bench: {message}");
            }
            eprintln!("{USAGE}");
            return if message.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    match suite(&settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("oz-bench: {err}");
            ExitCode::FAILURE
        }
    }
}

fn suite(settings: &Settings) -> Result<()> {
    let started = chrono::Utc::now();
    let machine = machine::Machine::describe();
    eprintln!("oz-bench: {}", machine.summary());
    let host = simulator::Host::start()?;
    let mut sections: Vec<Section> = Vec::new();
    type Bench = fn(&simulator::Host, &Settings) -> Result<Section>;
    let benches: [(&str, Bench); 6] = [
        ("calls", calls::run),
        ("decode", decode::run),
        ("pagination", pagination::run),
        ("download", download::run),
        ("waiter", waiter::run),
        ("realtime", realtime::run),
    ];
    for (name, bench) in benches {
        if !settings.selected(name) {
            continue;
        }
        eprintln!("oz-bench: {name} ...");
        let section = bench(&host, settings)?;
        eprintln!("{}", section.summary());
        sections.push(section);
    }
    drop(host);
    let build = if settings.build_cost {
        eprintln!("oz-bench: build cost (a clean build; this takes minutes) ...");
        Some(build_cost::measure()?)
    } else {
        None
    };
    let generated_lines = build_cost::generated_lines()?;
    let results = report::Results {
        machine,
        started,
        finished: chrono::Utc::now(),
        arguments: std::env::args()
            .skip(1)
            .filter(|a| a != "--bench")
            .collect(),
        sections,
        generated_lines,
    };
    let text = results.render();
    println!("{text}");
    if settings.records() {
        let path = workspace_root().join("BENCHMARKS.md");
        report::update_file(&path, &text, build.as_ref())?;
        eprintln!("oz-bench: wrote {}", path.display());
    } else if let Some(build) = &build {
        println!("{}", build.render());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Settings, String> {
        Settings::parse(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn the_plain_command_runs_and_records_everything() {
        let settings = parse(&["--bench"]).unwrap();
        assert!(BENCHMARKS.iter().all(|b| settings.selected(b)));
        assert!(settings.records());
        assert!(!settings.build_cost);
    }

    #[test]
    fn partial_or_quick_runs_are_not_recorded() {
        let only = parse(&["--bench", "--only", "calls,waiter"]).unwrap();
        assert!(only.selected("waiter") && !only.selected("download"));
        assert!(!only.records());
        assert!(!parse(&["--quick"]).unwrap().records());
        assert!(!parse(&["--no-write"]).unwrap().records());
    }

    #[test]
    fn unknown_arguments_and_benchmarks_are_refused() {
        assert!(parse(&["--fast"]).unwrap_err().contains("--fast"));
        assert!(
            parse(&["--only", "calls,nope"])
                .unwrap_err()
                .contains("nope")
        );
        assert!(parse(&["--only"]).is_err());
    }
}
