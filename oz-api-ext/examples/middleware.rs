//! Your own code around every attempt: tower layers given to `Config::layer`. One signs each
//! attempt with a header of its own; the other counts attempts and their time per operation,
//! as a metrics layer would.
//!
//! ```text
//! cargo run -p oz-api-ext --example middleware
//! ```
//!
//! Offline against the local simulator unless `WARP_API_KEY` is set. The signature here is a
//! stand-in (a hash of the method and path); a real one would use the service's scheme.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oz_api_ext::RunWaitExt;
use oz_api_ext::oz_api::middleware::tower::{ServiceExt, layer::layer_fn};
use oz_api_ext::oz_api::middleware::{Attempt, HttpRequest, HttpService};
use oz_api_ext::oz_api::types::RunAgentRequest;
use oz_mock::Progression;

mod common;

/// Attempts and their total time, by operation id.
type Metrics = Arc<Mutex<BTreeMap<&'static str, (u32, Duration)>>>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let metrics = Metrics::default();
    let recorded = Arc::clone(&metrics);

    // The outermost layer measures; the inner one signs. Layers run in the order added.
    let measuring = layer_fn(move |inner: HttpService| {
        let metrics = Arc::clone(&recorded);
        measured(inner, metrics)
    });
    let signing = layer_fn(|inner: HttpService| {
        inner.map_request(|mut request: HttpRequest| {
            let mut hasher = DefaultHasher::new();
            request.method().as_str().hash(&mut hasher);
            request.uri().path().hash(&mut hasher);
            let signature = format!("{:016x}", hasher.finish());
            request.headers_mut().insert(
                "x-example-signature",
                signature.parse().expect("hex is a header value"),
            );
            request
        })
    });

    let (client, _simulator) = common::connect_with(Progression::Instant, |config| {
        config.layer(measuring).layer(signing)
    })
    .await?;

    let run = client
        .run_and_wait(RunAgentRequest::builder().prompt("Tidy the imports"))
        .min_delay(Duration::from_millis(100))
        .send()
        .await?;
    println!("run {} ended {}", run.run_id, run.state);

    for (operation, (attempts, time)) in metrics.lock().unwrap().iter() {
        println!("  {operation:<12} {attempts} attempt(s), {time:?} in all");
    }
    Ok(())
}

/// A service that records each attempt's operation and duration, then passes it on.
fn measured(inner: HttpService, metrics: Metrics) -> HttpService {
    HttpService::new(oz_api_ext::oz_api::middleware::tower::service_fn(
        move |request: HttpRequest| {
            let inner = inner.clone();
            let metrics = Arc::clone(&metrics);
            async move {
                let operation = request
                    .extensions()
                    .get::<Attempt>()
                    .map_or("unknown", Attempt::operation_id);
                let started = Instant::now();
                let answer = inner.oneshot(request).await;
                let mut metrics = metrics.lock().unwrap();
                let entry = metrics.entry(operation).or_default();
                entry.0 += 1;
                entry.1 += started.elapsed();
                answer
            }
        },
    ))
}
