//! Interrupting a live run against the simulator: the 202 carries a JSON body (the official
//! client in strict mode refuses one without), which the typed call decodes.

use oz_api_ext::oz_api::types::RunAgentRequest;
use oz_mock::{OzMock, RunState};

mod support;

#[tokio::test]
async fn interrupting_a_live_run_answers_202_with_the_run_id() {
    let mock = OzMock::start().await.unwrap();
    let client = support::client(&mock);
    let run = client
        .create_run()
        .body(RunAgentRequest::builder().prompt("Refactor the router"))
        .send()
        .await
        .unwrap();
    assert!(mock.set_run_state(&run.run_id, RunState::Inprogress));

    let accepted = client
        .interrupt_run()
        .run_id(&run.run_id)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    let content_type = accepted.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_eq!(accepted.run_id.as_deref(), Some(run.run_id.as_str()));
    assert_eq!(mock.run_state(&run.run_id), Some(RunState::Inprogress));
}
