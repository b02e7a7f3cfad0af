//! `oz-mock`: runs the Oz API simulator until interrupted.
//!
//! ```text
//! cargo run -p oz-mock -- --port 8080 [--host 127.0.0.1] [--api-key KEY] [--progression instant|realistic]
//!     [--seed-runs N] [--factory-tasks on|off]
//! ```
//!
//! Unlike the library's default, the binary seeds tasks into the factories
//! (`--factory-tasks off` starts with empty factories).
#![forbid(unsafe_code)]

use std::net::IpAddr;
use std::process::ExitCode;

use oz_mock::{OzMock, OzMockBuilder, Progression};

const USAGE: &str = "usage: oz-mock [--port PORT] [--host ADDR] [--api-key KEY] [--progression instant|realistic] [--seed-runs N] [--factory-tasks on|off]";

fn parse_args(args: impl Iterator<Item = String>) -> Result<OzMockBuilder, String> {
    let mut builder = OzMock::builder().port(8080).seed_factory_tasks(true);
    let mut args = args.peekable();
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_owned());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        builder = match flag.as_str() {
            "--port" => builder.port(
                value
                    .parse()
                    .map_err(|_| format!("--port: not a port number: {value:?}"))?,
            ),
            "--host" => builder.host(
                value
                    .parse::<IpAddr>()
                    .map_err(|_| format!("--host: not an IP address: {value:?}"))?,
            ),
            "--api-key" => builder.api_key(value),
            "--progression" => builder.progression(match value.as_str() {
                "instant" => Progression::Instant,
                "realistic" => Progression::Realistic,
                other => {
                    return Err(format!(
                        "--progression: expected instant or realistic, got {other:?}"
                    ));
                }
            }),
            "--seed-runs" => builder.seed_runs(
                value
                    .parse()
                    .map_err(|_| format!("--seed-runs: not a number: {value:?}"))?,
            ),
            "--factory-tasks" => builder.seed_factory_tasks(match value.as_str() {
                "on" => true,
                "off" => false,
                other => {
                    return Err(format!(
                        "--factory-tasks: expected on or off, got {other:?}"
                    ));
                }
            }),
            other => return Err(format!("unknown flag {other:?}\n{USAGE}")),
        };
    }
    Ok(builder)
}

#[tokio::main]
async fn main() -> ExitCode {
    let builder = match parse_args(std::env::args().skip(1)) {
        Ok(builder) => builder,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let mock = match builder.start().await {
        Ok(mock) => mock,
        Err(error) => {
            eprintln!("oz-mock: could not listen: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("Oz API simulator listening");
    println!("  OZ_API_BASE_URL={}", mock.base_url());
    println!("  WARP_API_KEY={}", mock.api_key());
    println!("  storage origin: {}", mock.storage_origin());
    println!("Press Ctrl-C to stop.");
    if let Err(error) = tokio::signal::ctrl_c().await {
        eprintln!("oz-mock: cannot wait for Ctrl-C: {error}");
    }
    mock.shutdown().await;
    ExitCode::SUCCESS
}
