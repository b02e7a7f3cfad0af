//! Record mode: re-records fixtures from the live service. Ignored by default and inert without
//! `OZ_RECORD=1` and `WARP_API_KEY`:
//!
//! `OZ_RECORD=1 WARP_API_KEY=wk-... cargo test -p oz-conformance --test record -- --ignored --nocapture`

use oz_conformance::fixture::fixtures_dir;
use oz_conformance::record::{RecordSettings, record_scenario};

#[tokio::test]
#[ignore = "talks to the live service; needs OZ_RECORD=1 and WARP_API_KEY"]
async fn record_read_only_scenario() {
    match RecordSettings::from_lookup(|name| std::env::var(name).ok()) {
        RecordSettings::Off(why) => println!("{why}"),
        RecordSettings::On { base_url, api_key } => {
            let written = record_scenario(&base_url, &api_key, &fixtures_dir())
                .await
                .unwrap_or_else(|e| panic!("recording failed: {e}"));
            for path in &written {
                println!("wrote {}", path.display());
            }
            println!(
                "{} fixtures written; review them, then run `cargo test -p oz-conformance`",
                written.len()
            );
        }
    }
}

/// The recorder against the local simulator: what it writes is redacted, valid against the spec
/// and replays through the SDK like a checked-in fixture.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_fixtures_are_redacted_valid_and_replayable() {
    let mock = oz_mock::OzMock::builder()
        .seed_runs(3)
        .start()
        .await
        .expect("the simulator starts");
    let key = mock.api_key().to_owned();
    let base_url = mock.base_url();
    let settings = RecordSettings::from_lookup(|name| match name {
        "OZ_RECORD" => Some("1".to_owned()),
        "WARP_API_KEY" => Some(key.clone()),
        "OZ_API_BASE_URL" => Some(base_url.clone()),
        _ => None,
    });
    let RecordSettings::On { base_url, api_key } = settings else {
        panic!("record mode is on with a flag and a key");
    };
    let dir = tempfile::tempdir().unwrap();
    let written = record_scenario(&base_url, &api_key, dir.path())
        .await
        .unwrap_or_else(|e| panic!("recording failed: {e}"));
    assert!(written.len() >= 8, "{written:?}");

    let spec = oz_conformance::Spec::load();
    let recorded = oz_conformance::fixture::load_all(dir.path()).unwrap();
    assert_eq!(recorded.len(), written.len());
    assert!(recorded.iter().any(|f| f.operation_id == "get_run"));
    for fixture in &recorded {
        assert!(fixture.case.starts_with("recorded-"), "{}", fixture.label());
        let text = std::fs::read_to_string(&fixture.path).unwrap();
        assert!(
            !text.contains(&key),
            "{}: the API key was written",
            fixture.label()
        );
        assert!(
            !text.to_lowercase().contains("authorization"),
            "{}",
            fixture.label()
        );
        assert_eq!(
            text.matches('@').count(),
            text.matches(oz_conformance::redact::EMAIL_PLACEHOLDER)
                .count(),
            "{}: an e-mail address was written",
            fixture.label()
        );
        assert_eq!(spec.check_fixture(fixture), Vec::<String>::new());
        assert_eq!(
            oz_conformance::check::typed_call(&spec, fixture).await,
            Vec::<String>::new()
        );
    }
    mock.shutdown().await;
}
