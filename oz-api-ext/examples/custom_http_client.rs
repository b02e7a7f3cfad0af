//! The application's own network: a proxy and a company root certificate, or an HTTP client
//! the application prepared itself (its connection pool, time limits, local address).
//!
//! ```text
//! cargo run -p oz-api-ext --example custom_http_client
//! HTTPS_PROXY_URL=http://proxy.internal:3128 CA_FILE=/etc/ssl/company-ca.pem \
//!     WARP_API_KEY=wk-... cargo run -p oz-api-ext --example custom_http_client
//! ```
//!
//! With `HTTPS_PROXY_URL` (and optionally `CA_FILE`, a PEM bundle) the SDK builds its client
//! with them; otherwise it is given a prepared one. It starts a run and lists the latest ones.
//! Offline against the local simulator unless
//! `WARP_API_KEY` is set. (Without any of this, `HTTPS_PROXY`/`NO_PROXY` and, with the default
//! `system-proxy` feature, the system settings of macOS and Windows are honoured anyway.)

use std::time::Duration;

use oz_api_ext::oz_api::reqwest::{self, Proxy};
use oz_api_ext::oz_api::types::RunAgentRequest;
use oz_api_ext::oz_api::{Config, http_client_builder};
use oz_mock::Progression;

mod common;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proxy_url = std::env::var("HTTPS_PROXY_URL").ok();
    let ca_file = std::env::var("CA_FILE").ok();

    let (client, _simulator) = common::connect_with(Progression::Instant, |config: Config| {
        match &proxy_url {
            // A proxy for every request, to the API and to storage hosts, and the root that a
            // TLS-inspecting proxy signs with. Both are checked when the client is built.
            Some(url) => {
                let proxy = Proxy::all(url.as_str()).expect("HTTPS_PROXY_URL is a URL");
                let config = config.proxy(proxy);
                match &ca_file {
                    Some(path) => config.add_root_certificate_pem(
                        std::fs::read(path).expect("CA_FILE can be read"),
                    ),
                    None => config,
                }
            }
            // A client the application prepared: start from the SDK's TLS stack, follow no
            // redirects (downloads resolve the API's redirect themselves), and give it time
            // limits of its own. The SDK still adds the key and its headers to each request.
            None => {
                let http = http_client_builder()
                    .expect("a TLS stack")
                    .redirect(reqwest::redirect::Policy::none())
                    .pool_max_idle_per_host(16)
                    .connect_timeout(Duration::from_secs(3))
                    .timeout(Duration::from_secs(20))
                    .build()
                    .expect("an HTTP client");
                config.http_client(http)
            }
        }
    })
    .await?;

    let started = client
        .create_run()
        .body(RunAgentRequest::builder().prompt("Tidy the README"))
        .send()
        .await?;
    println!("started {}", started.run_id);
    let page = client.list_runs().limit(5).send().await?;
    println!(
        "{} runs on the first page (through {})",
        page.runs.len(),
        if proxy_url.is_some() {
            "the proxy"
        } else {
            "the prepared client"
        }
    );
    for run in &page.runs {
        println!("  {:<10} {}", run.state.to_string(), run.title);
    }
    Ok(())
}
