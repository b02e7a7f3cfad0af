//! `oz-mock`: runs the Oz API simulator until interrupted (Ctrl-C).
//!
//! ```text
//! cargo run -p oz-mock -- [--port 8080] [--host 127.0.0.1] [--storage-port 0] [--api-key KEY]
//!     [--progression instant|realistic] [--seed-runs N] [--factory-tasks on|off]
//!     [--storage-ranges on|off]
//! ```
//!
//! `oz-mock --help` describes each flag and its default. Unlike the library's default, the
//! binary listens on port 8080 and seeds tasks into the factories (`--factory-tasks off` starts
//! with empty factories).
#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use oz_mock::{DEFAULT_API_KEY, OzMock, OzMockBuilder, Progression};

/// Runs a local, in-memory simulator of Warp's Oz Agent API until interrupted (Ctrl-C).
///
/// Once listening, it prints the base URL and API key to point a client at, e.g.
/// `WARP_BASE_URL=http://127.0.0.1:8080/api/v1`.
#[derive(Debug, Parser)]
#[command(name = "oz-mock", version)]
struct Args {
    /// Port of the API listener; 0 picks a free port (the printed base URL names it).
    #[arg(long, value_name = "PORT", default_value_t = 8080)]
    port: u16,

    /// Address both listeners bind to.
    #[arg(long, value_name = "ADDR", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,

    /// Port of the storage listener that serves signed downloads (transcripts, artifacts);
    /// 0 picks a free port.
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    storage_port: u16,

    /// API key clients must send as `Authorization: Bearer KEY`.
    #[arg(long, value_name = "KEY", default_value = DEFAULT_API_KEY)]
    api_key: String,

    /// How runs created through the API advance through their states.
    #[arg(long, value_enum, default_value_t = ProgressionFlag::Instant)]
    progression: ProgressionFlag,

    /// Number of finished runs to pre-create, with varied states and metadata (for pagination).
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed_runs: usize,

    /// Whether to pre-create tasks in every stage in the two factories.
    #[arg(long, value_enum, default_value_t = OnOff::On)]
    factory_tasks: OnOff,

    /// Whether the storage origin answers byte ranges (206); `off` always sends whole objects.
    #[arg(long, value_enum, default_value_t = OnOff::On)]
    storage_ranges: OnOff,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProgressionFlag {
    /// The first read after creation finds a run ended.
    Instant,
    /// A run takes about four seconds from QUEUED to its final state.
    Realistic,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OnOff {
    On,
    Off,
}

impl Args {
    fn builder(&self) -> OzMockBuilder {
        OzMock::builder()
            .host(self.host)
            .port(self.port)
            .storage_port(self.storage_port)
            .api_key(self.api_key.clone())
            .progression(match self.progression {
                ProgressionFlag::Instant => Progression::Instant,
                ProgressionFlag::Realistic => Progression::Realistic,
            })
            .seed_runs(self.seed_runs)
            .seed_factory_tasks(matches!(self.factory_tasks, OnOff::On))
            .storage_ranges(matches!(self.storage_ranges, OnOff::On))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    // Bad flags end here with clap's message and exit status 2; `--help` with status 0.
    let args = Args::parse();
    let mock = match args.builder().start().await {
        Ok(mock) => mock,
        Err(error) => {
            eprintln!("oz-mock: could not listen on {}: {error}", args.host);
            return ExitCode::FAILURE;
        }
    };
    println!("Oz API simulator listening");
    println!("  WARP_BASE_URL={}", mock.base_url());
    if args.api_key == DEFAULT_API_KEY {
        println!("  WARP_API_KEY={DEFAULT_API_KEY}");
    } else {
        println!("  WARP_API_KEY=<the key given with --api-key>");
    }
    println!("  storage origin: {}", mock.storage_origin());
    println!("Press Ctrl-C to stop.");
    if let Err(error) = tokio::signal::ctrl_c().await {
        eprintln!("oz-mock: cannot wait for Ctrl-C: {error}");
    }
    mock.shutdown().await;
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_are_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }

    #[test]
    fn defaults_and_spellings_of_today_are_kept() {
        let args = Args::try_parse_from(["oz-mock"]).expect("no flags");
        assert_eq!(args.port, 8080);
        assert_eq!(args.host, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(args.api_key, DEFAULT_API_KEY);
        assert!(matches!(args.factory_tasks, OnOff::On));
        let args = Args::try_parse_from([
            "oz-mock",
            "--port",
            "0",
            "--host",
            "0.0.0.0",
            "--api-key",
            "wk-test",
            "--progression",
            "realistic",
            "--seed-runs",
            "25",
            "--factory-tasks",
            "off",
        ])
        .expect("every flag");
        assert_eq!(args.port, 0);
        assert_eq!(args.host, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(args.api_key, "wk-test");
        assert!(matches!(args.progression, ProgressionFlag::Realistic));
        assert_eq!(args.seed_runs, 25);
        assert!(matches!(args.factory_tasks, OnOff::Off));
        let args = Args::try_parse_from(["oz-mock", "--port=9000"]).expect("--flag=value");
        assert_eq!(args.port, 9000);
    }
}
