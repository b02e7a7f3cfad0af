//! Conditional requests: `If-None-Match` sent as given, `304 Not Modified` as a typed outcome.

mod common;

use oz_api::Conditional;
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ETAG: &str = "\"schemas-7f3a\"";

async fn server_with_etag() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/factory-files/schemas"))
        .and(header("if-none-match", ETAG))
        .respond_with(ResponseTemplate::new(304).insert_header("etag", ETAG))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/factory-files/schemas"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("etag", ETAG)
                .set_body_json(json!({
                    "current_version": "v1alpha1",
                    "versions": [{"schema_version": "v1alpha1", "schema_url": "/api/v1/factory-files/schemas/v1alpha1"}]
                })),
        )
        .with_priority(2)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_first_read_is_modified_with_its_etag_and_a_revalidation_is_not_modified() {
    let server = server_with_etag().await;
    let client = common::client(&server);

    let first = Conditional::from_send(client.list_factory_file_schemas().send().await).unwrap();
    assert_eq!(first.etag(), Some(ETAG));
    assert!(!first.is_not_modified());
    let versions = first.into_modified().unwrap();
    assert_eq!(versions.current_version.as_deref(), Some("v1alpha1"));

    let again = client
        .list_factory_file_schemas()
        .if_none_match(ETAG)
        .send()
        .await;
    let again = Conditional::from_send(again).unwrap();
    assert_eq!(
        again,
        Conditional::NotModified {
            etag: Some(ETAG.to_owned())
        }
    );
    let sent = common::received(&server).await;
    assert_eq!(sent.len(), 2, "a 304 is an answer, not a reason to retry");
    assert_eq!(sent[1].headers.get("if-none-match").unwrap(), ETAG);
}

#[tokio::test]
async fn a_stale_etag_gets_the_new_value_and_other_errors_stay_errors() {
    let server = server_with_etag().await;
    let client = common::client(&server);
    let stale = client
        .list_factory_file_schemas()
        .if_none_match("\"older\"")
        .send()
        .await;
    assert!(
        Conditional::from_send(stale)
            .unwrap()
            .into_modified()
            .is_some()
    );

    let missing = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_json(common::error_json(
            404,
            "resource_not_found",
            "Not Found",
        )))
        .mount(&missing)
        .await;
    let client = common::client(&missing);
    let err = Conditional::from_send(
        client
            .get_factory_file_schema()
            .schema_version("v9")
            .if_none_match(ETAG)
            .send()
            .await,
    )
    .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
}
