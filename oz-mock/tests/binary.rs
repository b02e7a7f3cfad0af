//! The `oz-mock` binary as a user runs it: `--help`, refused flags, and a real request to a
//! running simulator whose base URL is read from what it prints.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

const BIN: &str = env!("CARGO_BIN_EXE_oz-mock");

/// How long a started binary may take to print its base URL on a loaded machine. Not a
/// synchronisation delay: the wait ends as soon as the line arrives.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a binary may take to exit once its last request has finished after SIGTERM, on a
/// loaded machine (idle connections are closed at once). The wait ends as soon as it exits.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run oz-mock")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

/// The part of `--help` that describes `flag`: from the flag to the next flag.
fn section<'h>(help: &'h str, flag: &str) -> &'h str {
    let start = help
        .find(&format!("      {flag}\n"))
        .unwrap_or_else(|| panic!("{flag} is not in --help:\n{help}"));
    let rest = &help[start + flag.len() + 6..];
    let end = rest.find("\n      --").or_else(|| rest.find("\n  -h"));
    &rest[..end.unwrap_or(rest.len())]
}

#[test]
fn help_describes_each_flag_with_its_default() {
    let output = run(&["--help"]);
    assert!(output.status.success(), "{output:?}");
    let help = text(&output.stdout);
    assert!(help.contains("Usage: oz-mock [OPTIONS]"), "{help}");
    for (flag, words, default) in [
        ("--port <PORT>", "API listener; 0 picks a free port", "8080"),
        (
            "--host <ADDR>",
            "Address both listeners bind to",
            "127.0.0.1",
        ),
        ("--storage-port <PORT>", "signed downloads", "0"),
        (
            "--api-key <KEY>",
            "Authorization: Bearer KEY",
            "wk-oz-mock-local",
        ),
        ("--progression <PROGRESSION>", "realistic:", "instant"),
        ("--seed-runs <N>", "finished runs to pre-create", "0"),
        ("--factory-tasks <FACTORY_TASKS>", "on, off", "on"),
        ("--shutdown-grace <SECONDS>", "after Ctrl-C or SIGTERM", "5"),
    ] {
        let described = section(&help, flag);
        assert!(described.contains(words), "{flag}: {described}");
        assert!(
            described.contains(&format!("[default: {default}]")),
            "{flag}: {described}"
        );
    }
    for (flag, words) in [
        ("--credits <N>", "OUT_OF_CREDITS"),
        ("--concurrency-limit <N>", "AT_CLOUD_AGENT_CAPACITY"),
    ] {
        let described = section(&help, flag);
        assert!(described.contains(words), "{flag}: {described}");
        assert!(!described.contains("[default:"), "{flag}: {described}");
    }
}

#[test]
fn a_bad_value_or_an_unknown_flag_is_refused_with_status_2() {
    for (args, message) in [
        (
            &["--progression", "fast"][..],
            "invalid value 'fast' for '--progression <PROGRESSION>'",
        ),
        (
            &["--progression", "fast"],
            "[possible values: instant, realistic]",
        ),
        (&["--factory-tasks", "yes"], "[possible values: on, off]"),
        (
            &["--port", "http"],
            "invalid value 'http' for '--port <PORT>'",
        ),
        (
            &["--seed-runs"],
            "a value is required for '--seed-runs <N>'",
        ),
        (&["--prot", "9000"], "unexpected argument '--prot' found"),
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        let stderr = text(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(
            stderr.contains("--help"),
            "{args:?} points to --help: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{args:?} started nothing");
    }
}

#[test]
fn a_port_in_use_is_reported_with_status_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("address").port().to_string();
    let output = run(&["--port", &port]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("oz-mock: could not listen on 127.0.0.1:"),
        "{stderr}"
    );
}

/// A started binary, killed when dropped (a failing test leaves no process behind).
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start oz-mock");
        let stdout: ChildStdout = child.stdout.take().expect("stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Running { child, lines }
    }

    /// The value after `key=` on the first printed line that has it.
    fn printed(&self, key: &str) -> String {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let prefix = format!("{key}=");
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(value) = line.trim().strip_prefix(&prefix) {
                        return value.to_owned();
                    }
                }
                Err(error) => panic!("oz-mock printed no {key} line: {error}"),
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_binary_on_port_0_answers_at_the_base_url_it_prints() {
    let mut oz = Running::start(&[
        "--port",
        "0",
        "--api-key",
        "wk-binary-test",
        "--seed-runs",
        "3",
        "--factory-tasks",
        "off",
    ]);
    let base_url = oz.printed("WARP_BASE_URL");
    assert!(base_url.starts_with("http://127.0.0.1:"), "{base_url}");
    assert!(
        !base_url.starts_with("http://127.0.0.1:0/"),
        "the bound port: {base_url}"
    );
    assert!(base_url.ends_with("/api/v1"), "{base_url}");
    assert_eq!(
        oz.printed("WARP_API_KEY"),
        "<the key given with --api-key>",
        "a key given on the command line is not printed"
    );

    // The SDK's TLS setup: in a workspace build reqwest has rustls without a default crypto
    // provider (oz-api picks ring per client), so `reqwest::Client::new()` would panic.
    let client = oz_api::http_client_builder()
        .expect("TLS setup")
        .build()
        .expect("an HTTP client");
    let runs = client
        .get(format!("{base_url}/agent/runs"))
        .bearer_auth("wk-binary-test")
        .send()
        .await
        .expect("list_runs");
    assert_eq!(runs.status(), StatusCode::OK);
    let body: serde_json::Value = runs.json().await.expect("JSON");
    assert_eq!(body["runs"].as_array().map(Vec::len), Some(3), "{body}");
    let refused = client
        .get(format!("{base_url}/agent/runs"))
        .bearer_auth(oz_mock::DEFAULT_API_KEY)
        .send()
        .await
        .expect("list_runs");
    assert_eq!(
        refused.status(),
        StatusCode::UNAUTHORIZED,
        "--api-key replaced the default"
    );

    #[cfg(unix)]
    {
        // Ctrl-C stops it with status 0.
        let interrupted = Command::new("kill")
            .args(["-INT", &oz.child.id().to_string()])
            .status()
            .expect("kill -INT");
        assert!(interrupted.success());
        let status = oz.child.wait().expect("wait");
        assert_eq!(status.code(), Some(0), "{status:?}");
    }
}

/// What `docker stop` does to a container whose first process is the simulator: SIGTERM. The
/// binary stops as on Ctrl-C, letting a download in flight finish, and exits with status 0.
#[cfg(unix)]
#[tokio::test]
async fn sigterm_stops_it_after_the_requests_in_flight() {
    // A grace far longer than the download takes on a loaded machine: the exit is prompt
    // because the download ends, not because the grace runs out.
    let mut oz = Running::start(&[
        "--port",
        "0",
        "--factory-tasks",
        "off",
        "--shutdown-grace",
        "600",
    ]);
    let base_url = oz.printed("WARP_BASE_URL");
    let key = oz_mock::DEFAULT_API_KEY;
    let client = oz_api::http_client_builder()
        .expect("TLS setup")
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");
    // A transcript far larger than the socket buffers, so that most of it is still to be sent
    // when the signal arrives.
    let size = 48 * 1024 * 1024;
    let created = client
        .post(format!("{base_url}/agent/runs"))
        .bearer_auth(key)
        .json(&serde_json::json!({"prompt": "[transcript:48MB] a long one"}))
        .send()
        .await
        .expect("create_run");
    assert_eq!(created.status(), StatusCode::OK);
    let run: serde_json::Value = created.json().await.expect("JSON");
    let run_id = run["run_id"].as_str().expect("run_id");
    let get_run = client
        .get(format!("{base_url}/agent/runs/{run_id}"))
        .bearer_auth(key)
        .send()
        .await
        .expect("get_run");
    assert_eq!(get_run.status(), StatusCode::OK);
    let redirect = client
        .get(format!("{base_url}/agent/runs/{run_id}/transcript"))
        .bearer_auth(key)
        .send()
        .await
        .expect("get_run_transcript");
    assert_eq!(redirect.status(), StatusCode::FOUND);
    let location = redirect.headers()[reqwest::header::LOCATION]
        .to_str()
        .expect("ASCII")
        .to_owned();
    let mut download = client.get(location).send().await.expect("download");
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.content_length(), Some(size));
    let mut received = download
        .chunk()
        .await
        .expect("first chunk")
        .expect("a body")
        .len() as u64;

    let terminated = Command::new("kill")
        .args(["-TERM", &oz.child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(terminated.success());
    // Once the listener is closed the signal has been acted on; only then is the rest read, so
    // that the download is still in flight while the simulator stops.
    let api_addr = base_url
        .trim_start_matches("http://")
        .trim_end_matches("/api/v1")
        .to_owned();
    let deadline = Instant::now() + STOP_TIMEOUT;
    while std::net::TcpStream::connect(&api_addr).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    while let Some(chunk) = download.chunk().await.expect("the rest of the download") {
        received += chunk.len() as u64;
    }
    assert_eq!(received, size, "the download in flight finished");
    let finished = Instant::now();
    let status = loop {
        if let Some(status) = oz.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            finished.elapsed() < STOP_TIMEOUT,
            "still running {STOP_TIMEOUT:?} after its last request"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.code(), Some(0), "{status:?}");
    // Nothing is accepted any more.
    assert!(
        client
            .get(format!("{base_url}/agent/runs"))
            .bearer_auth(key)
            .send()
            .await
            .is_err()
    );
}

#[test]
fn the_default_key_is_printed() {
    let oz = Running::start(&["--port", "0", "--factory-tasks", "off"]);
    assert_eq!(oz.printed("WARP_API_KEY"), oz_mock::DEFAULT_API_KEY);
}
