//! Worker processes: the suite's own executable started again with `OZ_BENCH_WORKER=<name>`
//! and its input as JSON in `OZ_BENCH_INPUT`. A worker prints one result line and exits.

use std::process::{Command, ExitCode, Stdio};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Result;

const WORKER_ENV: &str = "OZ_BENCH_WORKER";
const INPUT_ENV: &str = "OZ_BENCH_INPUT";
/// Marks the result line on a worker's standard output.
const RESULT_PREFIX: &str = "oz-bench-result ";

/// Runs a worker in a process of its own and returns what it measured.
pub(crate) fn spawn<I: Serialize, O: DeserializeOwned>(name: &str, input: &I) -> Result<O> {
    let output = Command::new(std::env::current_exe()?)
        .env(WORKER_ENV, name)
        .env(INPUT_ENV, serde_json::to_string(input)?)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!("worker {name} failed ({}): {stdout}", output.status).into());
    }
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix(RESULT_PREFIX))
        .ok_or_else(|| format!("worker {name} printed no result: {stdout}"))?;
    Ok(serde_json::from_str(line)?)
}

/// When this process was started as a worker: runs it and returns its exit code.
pub(crate) fn run_if_worker() -> Option<ExitCode> {
    let name = std::env::var(WORKER_ENV).ok()?;
    let result = match name.as_str() {
        "calls" => serve(crate::calls::worker),
        "decode" => serve(crate::decode::worker),
        "pagination" => serve(crate::pagination::worker),
        "download" => serve(crate::download::worker),
        "waiter" => serve(crate::waiter::worker),
        "realtime" => serve(crate::realtime::worker),
        other => Err(format!("unknown worker {other:?}").into()),
    };
    Some(match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("oz-bench worker {name}: {err}");
            ExitCode::FAILURE
        }
    })
}

fn serve<I: DeserializeOwned, O: Serialize>(work: fn(I) -> Result<O>) -> Result<()> {
    let input = std::env::var(INPUT_ENV).map_err(|_| format!("{INPUT_ENV} is not set"))?;
    let output = work(serde_json::from_str(&input)?)?;
    println!("{RESULT_PREFIX}{}", serde_json::to_string(&output)?);
    Ok(())
}
