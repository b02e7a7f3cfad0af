//! Layers of `Config::layer` around every attempt, against a real HTTP server: a layer that
//! signs the request (the server checks the signature), one that answers without the network,
//! their order, and where they sit relative to the key and the retries.

mod common;

use std::sync::{Arc, Mutex};

use common::{API_KEY, CLOSED_PORT_BASE_URL, Pauses, config, config_for, received, run_json};
use oz_api::Error;
use oz_api::middleware::{Attempt, HttpRequest, HttpResponse, HttpService};
use tower::ServiceExt;
use tower::layer::layer_fn;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const RUN_PATH: &str = "/api/v1/agent/runs/run_1";

fn attempt_of(request: &HttpRequest) -> Attempt {
    *request
        .extensions()
        .get::<Attempt>()
        .expect("every attempt is named")
}

fn json_answer(status: u16, body: &serde_json::Value) -> HttpResponse {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(reqwest::Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn a_signing_layer_changes_every_attempt_after_the_key_was_attached() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(RUN_PATH))
        .and(header("x-signature", "get_run/1/signed-with-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(run_json("run_1", "QUEUED")))
        .expect(1)
        .mount(&server)
        .await;
    let signing = layer_fn(|inner: HttpService| {
        inner.map_request(|mut request: HttpRequest| {
            let attempt = attempt_of(&request);
            let keyed = request
                .headers()
                .get("authorization")
                .is_some_and(|value| value.as_bytes() == format!("Bearer {API_KEY}").as_bytes());
            let signature = format!(
                "{}/{}/{}",
                attempt.operation_id(),
                attempt.number(),
                if keyed { "signed-with-key" } else { "no-key" }
            );
            request
                .headers_mut()
                .insert("x-signature", signature.parse().unwrap());
            request
        })
    });
    let client = config(&server).layer(signing).build().unwrap();

    let run = client.get_run().run_id("run_1").send().await.unwrap();

    assert_eq!(run.run_id, "run_1");
}

#[tokio::test]
async fn a_layer_answers_without_the_network_and_the_retries_see_its_answers() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    // Answers the first attempt with a 503 and the second with the run; nothing listens at
    // the base URL, so any request that reached the network would fail.
    let answering = layer_fn(move |_inner: HttpService| {
        let record = record.clone();
        tower::service_fn(move |request: HttpRequest| {
            let attempt = attempt_of(&request);
            record.lock().unwrap().push(attempt.number());
            async move {
                Ok::<_, oz_api::middleware::BoxError>(if attempt.number() == 1 {
                    json_answer(503, &serde_json::json!({"error": "busy"}))
                } else {
                    json_answer(200, &run_json("run_1", "SUCCEEDED"))
                })
            }
        })
    });
    let pauses = Pauses::default();
    let client = config_for(CLOSED_PORT_BASE_URL)
        .sleep_impl(pauses.clone())
        .layer(answering)
        .build()
        .unwrap();

    let run = client.get_run().run_id("run_1").send().await.unwrap();

    assert_eq!(run.state.to_string(), "SUCCEEDED");
    assert_eq!(*seen.lock().unwrap(), [1, 2]);
    assert_eq!(pauses.taken().len(), 1);
}

#[tokio::test]
async fn layers_run_in_the_order_they_were_added() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(RUN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(run_json("run_1", "QUEUED")))
        .mount(&server)
        .await;
    let order = Arc::new(Mutex::new(Vec::new()));
    let named = |name: &'static str| {
        let order = order.clone();
        layer_fn(move |inner: HttpService| {
            let order = order.clone();
            inner.map_request(move |request: HttpRequest| {
                order.lock().unwrap().push(name);
                request
            })
        })
    };
    let client = config(&server)
        .layer(named("outer"))
        .layer(named("inner"))
        .build()
        .unwrap();

    client.get_run().run_id("run_1").send().await.unwrap();

    assert_eq!(*order.lock().unwrap(), ["outer", "inner"]);
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn a_layers_error_fails_the_attempt_with_its_cause() {
    let failing = layer_fn(|_inner: HttpService| {
        tower::service_fn(|_request: HttpRequest| async {
            Err::<HttpResponse, oz_api::middleware::BoxError>("circuit open".into())
        })
    });
    let client = config_for(CLOSED_PORT_BASE_URL)
        .max_retries(0)
        .layer(failing)
        .build()
        .unwrap();

    let err = client.get_run().run_id("run_1").send().await.unwrap_err();

    assert!(matches!(err, Error::Connection(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the request failed in transit: a layer of Config::layer failed: circuit open"
    );
}
