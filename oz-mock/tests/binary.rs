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
    ] {
        let described = section(&help, flag);
        assert!(described.contains(words), "{flag}: {described}");
        assert!(
            described.contains(&format!("[default: {default}]")),
            "{flag}: {described}"
        );
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

#[test]
fn the_default_key_is_printed() {
    let oz = Running::start(&["--port", "0", "--factory-tasks", "off"]);
    assert_eq!(oz.printed("WARP_API_KEY"), oz_mock::DEFAULT_API_KEY);
}
