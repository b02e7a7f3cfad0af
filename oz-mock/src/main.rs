//! `oz-mock`: runs the Oz API simulator until interrupted (Ctrl-C) or terminated (SIGTERM).
//!
//! ```text
//! cargo run -p oz-mock -- [--port 8080] [--host 127.0.0.1] [--storage-port 0] [--api-key KEY]
//!     [--progression instant|realistic] [--seed-runs N] [--factory-tasks on|off]
//!     [--credits N] [--concurrency-limit N] [--storage-ranges on|off] [--shutdown-grace SECONDS]
//!     [--event-stream on|off] [--event-stream-max-age SECONDS]
//! ```
//!
//! `oz-mock --help` describes each flag and its default. Unlike the library's default, the
//! binary listens on port 8080 and seeds tasks into the factories (`--factory-tasks off` starts
//! with empty factories).
//!
//! Ctrl-C and SIGTERM (what `docker stop` sends to a container's first process) stop it the
//! same way: no new connection is accepted, requests in flight get `--shutdown-grace` seconds
//! (5 by default, below the 10 s `docker stop` waits before it kills) to finish, and it exits
//! with status 0.
#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use oz_mock::{DEFAULT_API_KEY, OzMock, OzMockBuilder, Progression};

/// Runs a local, in-memory simulator of Warp's Oz Agent API until interrupted (Ctrl-C or
/// SIGTERM; requests in flight then get a few seconds to finish).
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

    /// The team's credits, counted in runs: once N runs are created, creating another is
    /// refused with 429 and `X-Warp-Error-Code: OUT_OF_CREDITS`. Unlimited when not given.
    #[arg(long, value_name = "N")]
    credits: Option<u64>,

    /// At most N of the team's runs live at once: creating one more is refused with 403 and
    /// `X-Warp-Error-Code: AT_CLOUD_AGENT_CAPACITY` until a run ends. Seeded runs count: the
    /// factories' seeded tasks start with live runs (`--factory-tasks off` leaves them out). No
    /// limit when not given.
    #[arg(long, value_name = "N")]
    concurrency_limit: Option<usize>,

    /// Seconds that requests in flight get to finish after Ctrl-C or SIGTERM.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    shutdown_grace: u64,

    /// Whether the storage origin answers byte ranges (206); `off` always sends whole objects.
    #[arg(long, value_enum, default_value_t = OnOff::On)]
    storage_ranges: OnOff,

    /// Whether the real-time event stream (`GET /api/v1/agent/events/stream`) is served; `off`
    /// answers its path 404, as a host without the stream, so clients fall back to polling.
    #[arg(long, value_enum, default_value_t = OnOff::On)]
    event_stream: OnOff,

    /// Close each event stream cleanly after it has been open this many seconds (the real
    /// one's hosting platform cuts streams at about 1200). Never when not given.
    #[arg(long, value_name = "SECONDS")]
    event_stream_max_age: Option<u64>,
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
        let mut builder = OzMock::builder();
        if let Some(credits) = self.credits {
            builder = builder.credits(credits);
        }
        if let Some(limit) = self.concurrency_limit {
            builder = builder.concurrency_limit(limit);
        }
        if let Some(seconds) = self.event_stream_max_age {
            builder = builder.event_stream_max_age(Duration::from_secs(seconds));
        }
        builder
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
            .event_stream(matches!(self.event_stream, OnOff::On))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    // Bad flags end here with clap's message and exit status 2; `--help` with status 0.
    let args = Args::parse();
    let stop = StopSignal::listen();
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
    if matches!(args.event_stream, OnOff::On) {
        println!(
            "  event stream: {}/agent/events/stream?run_ids[]=<run id>",
            mock.base_url()
        );
    }
    println!("Press Ctrl-C to stop.");
    match stop {
        Ok(stop) => stop.wait().await,
        Err(error) => eprintln!("oz-mock: cannot listen for Ctrl-C or SIGTERM: {error}"),
    }
    mock.shutdown_gracefully(Duration::from_secs(args.shutdown_grace))
        .await;
    ExitCode::SUCCESS
}

/// Ctrl-C (SIGINT) or SIGTERM, listened for from the moment it is made, so that a signal sent
/// as soon as the base URL is printed is not missed. As a container's first process the
/// simulator gets no default action for SIGTERM from the kernel: without a handler
/// `docker stop` would wait and then kill it.
struct StopSignal {
    #[cfg(unix)]
    signals: [tokio::signal::unix::Signal; 2],
}

impl StopSignal {
    #[cfg(unix)]
    fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            signals: [
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
            ],
        })
    }

    #[cfg(unix)]
    async fn wait(self) {
        let [mut interrupt, mut terminate] = self.signals;
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    }

    #[cfg(not(unix))]
    fn listen() -> std::io::Result<Self> {
        Ok(Self {})
    }

    #[cfg(not(unix))]
    async fn wait(self) {
        if let Err(error) = tokio::signal::ctrl_c().await {
            eprintln!("oz-mock: cannot wait for Ctrl-C: {error}");
        }
    }
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
        assert_eq!((args.credits, args.concurrency_limit), (None, None));
        assert_eq!(args.shutdown_grace, 5);
        assert!(matches!(args.event_stream, OnOff::On));
        assert_eq!(args.event_stream_max_age, None);
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
            "--credits",
            "3",
            "--concurrency-limit",
            "2",
            "--shutdown-grace",
            "1",
            "--event-stream",
            "off",
            "--event-stream-max-age",
            "30",
        ])
        .expect("every flag");
        assert_eq!(args.credits, Some(3));
        assert_eq!(args.concurrency_limit, Some(2));
        assert_eq!(args.shutdown_grace, 1);
        assert!(matches!(args.event_stream, OnOff::Off));
        assert_eq!(args.event_stream_max_age, Some(30));
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
