//! The parent process: a Tokio runtime that serves the simulators the workers talk to.

use std::future::Future;

use oz_api_ext::oz_api::types::RunAgentRequest;
use oz_api_ext::oz_api::{Client, Config};
use oz_mock::{OzMock, OzMockBuilder};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Result;

/// Runs created in the main simulator: fully populated runs (five artifacts, usage, metadata,
/// skill, agent config, schedule-free), enough for one 500-run page.
pub(crate) const FULL_RUNS: usize = 500;

/// Where a worker finds a simulator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Endpoint {
    pub(crate) base_url: String,
    pub(crate) api_key: String,
}

impl Endpoint {
    pub(crate) fn of(mock: &OzMock) -> Endpoint {
        Endpoint {
            base_url: mock.base_url(),
            api_key: mock.api_key().to_owned(),
        }
    }

    /// An SDK client as users build it.
    pub(crate) fn client(&self) -> Result<Client> {
        Ok(Config::new(self.api_key.clone())
            .base_url(self.base_url.clone())
            .build()?)
    }
}

/// The parent's runtime (two worker threads, so the simulator answers while the parent's own
/// thread waits for a worker) and the main simulator.
pub(crate) struct Host {
    main: OzMock,
    /// Ids of the fully populated runs of the main simulator.
    pub(crate) full_run_ids: Vec<String>,
    // Dropped last: the simulators' tasks live on it.
    runtime: tokio::runtime::Runtime,
}

impl Host {
    pub(crate) fn start() -> Result<Host> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let main = runtime.block_on(OzMock::builder().start())?;
        let full_run_ids = runtime.block_on(create_full_runs(&Endpoint::of(&main), FULL_RUNS))?;
        Ok(Host {
            main,
            full_run_ids,
            runtime,
        })
    }

    /// The main simulator (instant progression, [`FULL_RUNS`] finished runs).
    pub(crate) fn main(&self) -> Endpoint {
        Endpoint::of(&self.main)
    }

    /// Starts another simulator on the parent's runtime.
    pub(crate) fn start_mock(&self, builder: OzMockBuilder) -> Result<OzMock> {
        Ok(self.runtime.block_on(builder.start())?)
    }

    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}

/// Creates `count` runs with every optional part the service fills in, reads each once (the
/// instant progression finishes a run on its first read) and returns their ids.
pub(crate) async fn create_full_runs(endpoint: &Endpoint, count: usize) -> Result<Vec<String>> {
    let client = endpoint.client()?;
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let request: RunAgentRequest = serde_json::from_value(json!({
            "prompt": format!(
                "[file] [screenshot] [external] Fix the flaky integration test #{i} in \
                 ci/integration.yml and open a pull request with the fix"
            ),
            "title": format!("Fix flaky integration test #{i}"),
            "skill": "warp-mock/skills:review/SKILL.md",
            "team": i % 2 == 0,
            "metadata": {
                "team": if i % 2 == 0 { "core" } else { "infra" },
                "batch": format!("b{}", i % 10),
                "ticket": format!("ENG-{}", 1000 + i),
                "requested_by": "ci@example.com",
            },
            "config": {
                "model_id": "claude-sonnet-4",
                "name": "ci-fixer",
                "base_prompt": "You fix flaky tests. Keep changes minimal and explain them.",
                "computer_use_enabled": false,
                "idle_timeout_minutes": 30,
            },
        }))?;
        let run = client.create_run().body(request).send().await?.into_inner();
        client.get_run().run_id(&run.run_id).send().await?;
        ids.push(run.run_id);
    }
    Ok(ids)
}
