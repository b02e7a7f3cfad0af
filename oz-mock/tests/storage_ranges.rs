//! The storage origin answers byte ranges as a cloud object store does, and refuses them when
//! told to.

mod support;

use oz_mock::OzMock;
use reqwest::{Method, StatusCode, header};
use support::{Answer, api, create_run, get_run, http, send};

/// A finished run with a transcript of `size`, and the signed URL of its transcript.
async fn transcript_url(client: &reqwest::Client, mock: &OzMock, size: &str) -> String {
    let id = create_run(client, mock, &format!("[transcript:{size}] ranges")).await;
    get_run(client, mock, &id).await;
    send(api(
        client,
        mock,
        Method::GET,
        &format!("/agent/runs/{id}/transcript"),
    ))
    .await
    .location()
    .to_owned()
}

async fn get_range(client: &reqwest::Client, url: &str, range: &str) -> Answer {
    send(client.get(url).header(header::RANGE, range)).await
}

#[tokio::test]
async fn single_ranges_get_206_with_their_content_range() {
    let mock = OzMock::start().await.expect("start");
    let client = http();
    let url = transcript_url(&client, &mock, "64KB").await;

    let whole = send(client.get(&url)).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(whole.header(header::ACCEPT_RANGES), Some("bytes"));
    let etag = whole.header(header::ETAG).expect("an ETag").to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong: {etag}"
    );
    let len = whole.raw.len();
    assert!(len > 65_000, "{len}");

    let from = get_range(&client, &url, "bytes=40000-").await;
    assert_eq!(from.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        from.header(header::CONTENT_RANGE),
        Some(format!("bytes 40000-{}/{len}", len - 1).as_str())
    );
    assert_eq!(
        from.header(header::CONTENT_LENGTH),
        Some((len - 40_000).to_string().as_str())
    );
    assert_eq!(from.header(header::ETAG), Some(etag.as_str()));
    assert_eq!(from.raw, whole.raw[40_000..]);

    let span = get_range(&client, &url, "bytes=100-199").await;
    assert_eq!(span.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        span.header(header::CONTENT_RANGE),
        Some(format!("bytes 100-199/{len}").as_str())
    );
    assert_eq!(span.raw, whole.raw[100..200]);

    // A last byte past the end is the end; a suffix is the last N bytes.
    let past = get_range(&client, &url, "bytes=65000-999999").await;
    assert_eq!(past.raw, whole.raw[65_000..]);
    let suffix = get_range(&client, &url, "bytes=-10").await;
    assert_eq!(suffix.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(suffix.raw, whole.raw[len - 10..]);

    // The same object keeps its ETag.
    let again = send(client.get(&url)).await;
    assert_eq!(again.header(header::ETAG), Some(etag.as_str()));

    // HEAD describes the whole object.
    let head = send(client.head(&url)).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header(header::ETAG), Some(etag.as_str()));
    assert_eq!(
        head.header(header::CONTENT_LENGTH),
        Some(len.to_string().as_str())
    );
}

#[tokio::test]
async fn a_range_past_the_end_is_416_and_unusable_ranges_get_the_whole_object() {
    let mock = OzMock::start().await.expect("start");
    let client = http();
    let url = transcript_url(&client, &mock, "8KB").await;
    let whole = send(client.get(&url)).await;
    let len = whole.raw.len();
    let etag = whole.header(header::ETAG).unwrap().to_owned();

    for range in [format!("bytes={len}-"), format!("bytes={}-", len + 5)] {
        let answer = get_range(&client, &url, &range).await;
        assert_eq!(answer.status, StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(
            answer.header(header::CONTENT_RANGE),
            Some(format!("bytes */{len}").as_str())
        );
        assert!(answer.raw.is_empty());
    }

    // Several ranges, a malformed one, another unit, a reversed one: the whole object.
    for range in [
        "bytes=0-1,5-6",
        "bytes=abc-",
        "items=0-5",
        "bytes=10-5",
        "bytes=",
    ] {
        let answer = get_range(&client, &url, range).await;
        assert_eq!(answer.status, StatusCode::OK, "{range}");
        assert_eq!(answer.raw, whole.raw, "{range}");
    }

    // `If-Range` with the current ETag gives the range; with another, the whole object.
    let matching = send(
        client
            .get(&url)
            .header(header::RANGE, "bytes=100-")
            .header(header::IF_RANGE, &etag),
    )
    .await;
    assert_eq!(matching.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(matching.raw, whole.raw[100..]);
    for other in ["\"0000000000000000\"", "Wed, 21 Oct 2015 07:28:00 GMT"] {
        let stale = send(
            client
                .get(&url)
                .header(header::RANGE, "bytes=100-")
                .header(header::IF_RANGE, other),
        )
        .await;
        assert_eq!(stale.status, StatusCode::OK, "{other}");
        assert_eq!(stale.raw, whole.raw);
    }
}

#[tokio::test]
async fn a_streamed_transcript_serves_ranges_without_building_the_whole() {
    let mock = OzMock::start().await.expect("start");
    let client = http();
    let url = transcript_url(&client, &mock, "20MB").await;
    let len = 20 * 1024 * 1024;

    let head = send(client.head(&url)).await;
    let etag = head.header(header::ETAG).expect("an ETag").to_owned();
    let start = len - 200_000;
    let tail = get_range(&client, &url, &format!("bytes={start}-")).await;
    assert_eq!(tail.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.raw.len(), 200_000);
    assert!(tail.raw.ends_with(b"]}"), "the document's end");
    assert_eq!(tail.header(header::ETAG), Some(etag.as_str()));

    // Two ranges that meet give the same bytes as one range across them.
    let across = get_range(&client, &url, "bytes=65000-66000").await;
    let left = get_range(&client, &url, "bytes=65000-65535").await;
    let right = get_range(&client, &url, "bytes=65536-66000").await;
    assert_eq!(across.raw.len(), 1_001);
    assert_eq!([left.raw, right.raw].concat(), across.raw);
}

#[tokio::test]
async fn with_ranges_refused_the_storage_sends_the_whole_object() {
    let mock = OzMock::builder()
        .storage_ranges(false)
        .start()
        .await
        .expect("start");
    let client = http();
    let url = transcript_url(&client, &mock, "8KB").await;

    let whole = send(client.get(&url)).await;
    assert_eq!(whole.header(header::ACCEPT_RANGES), None);
    assert!(whole.header(header::ETAG).is_some());
    let ranged = get_range(&client, &url, "bytes=100-").await;
    assert_eq!(ranged.status, StatusCode::OK);
    assert_eq!(ranged.header(header::CONTENT_RANGE), None);
    assert_eq!(ranged.raw, whole.raw);
    let past = get_range(&client, &url, "bytes=999999-").await;
    assert_eq!(past.status, StatusCode::OK);
}

#[test]
fn the_binary_has_a_flag_to_refuse_ranges() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_oz-mock"))
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run oz-mock")
    };
    let help = run(&["--help"]);
    assert!(help.status.success(), "{help:?}");
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let flag = help
        .split("\n      --")
        .find(|section| section.starts_with("storage-ranges <STORAGE_RANGES>"))
        .unwrap_or_else(|| panic!("no --storage-ranges in --help:\n{help}"));
    assert!(flag.contains("byte ranges"), "{flag}");
    assert!(flag.contains("[default: on]"), "{flag}");
    assert!(flag.contains("on, off"), "{flag}");

    let refused = run(&["--storage-ranges", "no"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
}
