//! Factories, factory tasks, factory runs and files, and the run controls that came with them
//! (interrupts, conversation follow-ups, harness usage, screenshots, egress ranges), against a
//! real simulator on 127.0.0.1 with raw JSON.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use oz_mock::{OzMock, Progression, RunState};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use support::{Answer, api, create_run, get, get_run, http, patch, post, send};

async fn seeded() -> OzMock {
    OzMock::builder()
        .seed_factory_tasks(true)
        .start()
        .await
        .expect("start")
}

/// A 4xx problem with its status, error code and a detail that mentions `names`.
fn assert_problem(answer: &Answer, status: StatusCode, code: &str, names: &str) {
    assert_eq!(answer.status, status, "{:?}", answer.body);
    assert_eq!(answer.content_type(), Some("application/problem+json"));
    assert!(
        answer.body["type"].as_str().unwrap_or("").ends_with(code),
        "{:?}",
        answer.body
    );
    let detail = answer.body["detail"].as_str().unwrap_or("");
    assert!(detail.contains(names), "{names:?} not in {detail:?}");
}

/// The uids of the web (GitHub, Warp harness) and platform (Claude Code) factories.
async fn factory_uids(client: &reqwest::Client, mock: &OzMock) -> (String, String) {
    let listed = get(client, mock, "/factory").await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    let uid = |alias: &str| {
        listed.body["factories"]
            .as_array()
            .expect("factories")
            .iter()
            .find(|f| f["alias"] == alias)
            .and_then(|f| f["uid"].as_str())
            .unwrap_or_else(|| panic!("no {alias} factory"))
            .to_owned()
    };
    (uid("web"), uid("platform"))
}

/// Every task of a listing, following cursors.
async fn all_tasks(
    client: &reqwest::Client,
    mock: &OzMock,
    factory: &str,
    query: &str,
) -> Vec<Value> {
    let mut tasks = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut path = format!("/factory/{factory}/tasks?{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = get(client, mock, &path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {:?}", page.body);
        tasks.extend(
            page.body["tasks"]
                .as_array()
                .expect("tasks")
                .iter()
                .cloned(),
        );
        if page.body["page_info"]["has_next_page"] != json!(true) {
            assert!(page.body["page_info"].get("next_cursor").is_none());
            return tasks;
        }
        cursor = Some(
            page.body["page_info"]["next_cursor"]
                .as_str()
                .expect("cursor")
                .to_owned(),
        );
    }
    panic!("the listing does not end");
}

fn titled<'a>(tasks: &'a [Value], title: &str) -> &'a Value {
    tasks
        .iter()
        .find(|t| t["title"].as_str().is_some_and(|t| t.contains(title)))
        .unwrap_or_else(|| panic!("no task {title:?}"))
}

fn titles(tasks: &[Value]) -> Vec<&str> {
    tasks.iter().filter_map(|t| t["title"].as_str()).collect()
}

#[tokio::test]
async fn factories_are_seeded_and_paged_like_runs() {
    let mock = OzMock::start().await.expect("start");
    let client = http();

    let first = get(&client, &mock, "/factory?limit=1").await;
    assert_eq!(first.body["page_info"]["has_next_page"], true);
    let cursor = first.body["page_info"]["next_cursor"]
        .as_str()
        .expect("cursor");
    let second = get(&client, &mock, &format!("/factory?limit=1&cursor={cursor}")).await;
    assert_eq!(second.body["page_info"], json!({"has_next_page": false}));
    let uids: HashSet<&str> = [&first, &second]
        .iter()
        .filter_map(|a| a.body["factories"][0]["uid"].as_str())
        .collect();
    assert_eq!(uids.len(), 2, "each factory once");

    let (web, platform) = factory_uids(&client, &mock).await;
    let factory = get(&client, &mock, &format!("/factory/{web}")).await;
    assert_eq!(factory.status, StatusCode::OK);
    let f = &factory.body;
    assert_eq!(f["name"], "Web App Factory");
    assert_eq!(f["code_forge"], "GITHUB");
    assert_eq!(f["code_forges"], json!(["GITHUB"]));
    assert_eq!(f["credential_strategy"], "EXECUTOR");
    assert_eq!(
        f["repositories"][0],
        json!({"owner": "warp-mock", "repo": "web-app", "code_forge": "GITHUB"})
    );
    assert_eq!(f["agent_defaults"]["secrets"][0]["name"], "NPM_TOKEN");
    assert!(f["agent_defaults"]["mcp_servers"].is_object());
    assert_eq!(f["integrations"][0]["type"], "linear");
    assert!(f["scoring"].is_object() && f["scorer_defaults"].is_object());
    assert_eq!(f["team_uid"], "team_mock_0001");
    for key in [
        "uid",
        "created_at",
        "updated_at",
        "default_environment",
        "default_model",
    ] {
        assert!(f[key].is_string(), "{key}");
    }
    // The avatar is a signed storage URL, fetched without credentials.
    let avatar = f["avatar_url"].as_str().expect("avatar");
    assert!(avatar.starts_with(&mock.storage_origin()));
    let image = send(client.get(avatar)).await;
    assert_eq!(image.status, StatusCode::OK);
    assert_eq!(image.content_type(), Some("image/png"));
    let other = get(&client, &mock, &format!("/factory/{platform}")).await;
    assert_eq!(other.body["code_forges"], json!(["GITLAB", "AZURE_DEVOPS"]));
    assert_eq!(other.body["agent_defaults"]["harness"]["type"], "claude");
    assert!(other.body.get("avatar_url").is_none());

    // Search on name and alias; the team from the query wins over the header.
    let found = get(&client, &mock, "/factory?search=PLATF").await;
    assert_eq!(found.body["factories"].as_array().map(Vec::len), Some(1));
    let by_header = send(
        api(&client, &mock, Method::GET, "/factory").header("X-Warp-Team-Uid", "team_mock_0002"),
    )
    .await;
    assert_eq!(by_header.body["factories"][0]["uid"], json!(platform));
    let by_query = send(
        api(
            &client,
            &mock,
            Method::GET,
            "/factory?team_uid=team_mock_0001",
        )
        .header("X-Warp-Team-Uid", "team_mock_0002"),
    )
    .await;
    assert_eq!(by_query.body["factories"][0]["uid"], json!(web));
    let no_team = get(&client, &mock, "/factory?filter_team_uid=team_nobody").await;
    assert_eq!(no_team.body["factories"], json!([]));

    for bad in ["limit=0", "limit=101", "limit=x"] {
        let answer = get(&client, &mock, &format!("/factory?{bad}")).await;
        assert_problem(&answer, StatusCode::BAD_REQUEST, "invalid_request", "limit");
    }
    let broken = get(&client, &mock, "/factory?cursor=zz").await;
    assert_problem(
        &broken,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "cursor",
    );
    let missing = get(&client, &mock, "/factory/nope").await;
    assert_problem(
        &missing,
        StatusCode::NOT_FOUND,
        "resource_not_found",
        "nope",
    );
    let anonymous = send(client.get(format!("{}/factory", mock.base_url()))).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tasks_are_filtered_sorted_and_paged() {
    let mock = seeded().await;
    let client = http();
    let (web, platform) = factory_uids(&client, &mock).await;

    let everything = all_tasks(&client, &mock, &web, "limit=2").await;
    assert_eq!(everything.len(), 6);
    let stages: HashSet<&str> = everything
        .iter()
        .filter_map(|t| t["stage"].as_str())
        .collect();
    assert_eq!(stages.len(), 6, "one task in every stage: {stages:?}");
    let updated: Vec<&str> = everything
        .iter()
        .filter_map(|t| t["updated_at"].as_str())
        .collect();
    assert!(
        updated.windows(2).all(|w| w[0] >= w[1]),
        "updated_at desc by default"
    );
    // Lists are lean unless asked for more.
    assert!(
        everything
            .iter()
            .all(|t| t.get("outputs").is_none() && t.get("current_run").is_none())
    );
    assert!(everything.iter().all(|t| t["factory_uid"] == json!(web)));
    assert_eq!(all_tasks(&client, &mock, &platform, "").await.len(), 3);

    let live = all_tasks(&client, &mock, &web, "stage=TRIAGE&stage=IMPLEMENT").await;
    assert_eq!(titles(&live).len(), 2);
    assert!(
        live.iter()
            .all(|t| ["TRIAGE", "IMPLEMENT"].contains(&t["stage"].as_str().unwrap_or("")))
    );
    let searched = all_tasks(&client, &mock, &web, "q=DARK%20MODE").await;
    assert_eq!(titles(&searched), ["Implement the dark mode toggle"]);
    // created_by takes emails: the service account that started two of them has none.
    let by_user = all_tasks(&client, &mock, &web, "created_by=mock.user%40example.com").await;
    assert_eq!(by_user.len(), 4);
    assert!(
        by_user
            .iter()
            .all(|t| t["author"]["email"] == "mock.user@example.com")
    );
    let by_nobody = all_tasks(&client, &mock, &web, "created_by=someone%40example.com").await;
    assert!(by_nobody.is_empty());

    let oldest_first = all_tasks(
        &client,
        &mock,
        &web,
        "sort_by=created_at&sort_order=asc&limit=4",
    )
    .await;
    let created: Vec<&str> = oldest_first
        .iter()
        .filter_map(|t| t["created_at"].as_str())
        .collect();
    assert!(created.windows(2).all(|w| w[0] <= w[1]));
    let middle = created[2].to_owned();
    let after = all_tasks(
        &client,
        &mock,
        &web,
        &format!("created_after={}", middle.replace('+', "%2B")),
    )
    .await;
    assert_eq!(after.len(), 3);
    let before = all_tasks(&client, &mock, &web, &format!("created_before={middle}")).await;
    assert_eq!(before.len(), 2);
    let future = all_tasks(&client, &mock, &web, "updated_after=2999-01-01T00:00:00Z").await;
    assert!(future.is_empty());

    let full = all_tasks(
        &client,
        &mock,
        &web,
        "full_list=true&include_current_run=true",
    )
    .await;
    let implement = titled(&full, "dark mode");
    assert_eq!(implement["current_run"]["state"], "INPROGRESS");
    assert_eq!(implement["current_run"]["is_run_type_cancellable"], true);
    assert_eq!(implement["ticket_source"], "linear");
    assert_eq!(implement["ticket_id"], "WEB-87");
    // full_list outputs come from the conversation only; single reads add the runs under it.
    let review = titled(&full, "checkout total");
    assert_eq!(
        review["outputs"].as_array().map(Vec::len),
        Some(1),
        "{review:?}"
    );
    assert_eq!(review["outputs"][0]["artifact_type"], "EXTERNAL_REFERENCE");
    let uid = review["uid"].as_str().expect("uid");
    let detail = get(&client, &mock, &format!("/factory/{web}/tasks/{uid}")).await;
    let kinds: Vec<&str> = detail.body["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .filter_map(|o| o["artifact_type"].as_str())
        .collect();
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert!(kinds.contains(&"PULL_REQUEST") && kinds.contains(&"SCREENSHOT"));
    let complete = titled(&full, "React 19");
    assert_eq!(complete["outputs"][0]["data"]["status"], "merged");
    assert!(
        complete["outputs"]
            .as_array()
            .expect("outputs")
            .iter()
            .all(|o| o["artifact_type"] != "PLAN")
    );

    let sorted_cursor = get(
        &client,
        &mock,
        &format!("/factory/{web}/tasks?limit=1&sort_by=created_at"),
    )
    .await;
    let cursor = sorted_cursor.body["page_info"]["next_cursor"]
        .as_str()
        .expect("cursor");
    for (bad, names) in [
        ("stage=DONE".to_owned(), "stage"),
        ("sort_by=title".to_owned(), "sort_by"),
        ("sort_order=up".to_owned(), "sort_order"),
        ("limit=101".to_owned(), "limit"),
        ("limit=0".to_owned(), "limit"),
        ("created_after=yesterday".to_owned(), "created_after"),
        ("full_list=yes".to_owned(), "full_list"),
        ("include_current_run=1".to_owned(), "include_current_run"),
        (format!("cursor={cursor}"), "cursor"),
    ] {
        let answer = get(&client, &mock, &format!("/factory/{web}/tasks?{bad}")).await;
        assert_problem(&answer, StatusCode::BAD_REQUEST, "invalid_request", names);
    }
    let unknown = get(&client, &mock, "/factory/nope/tasks").await;
    assert_problem(
        &unknown,
        StatusCode::NOT_FOUND,
        "resource_not_found",
        "nope",
    );
}

#[tokio::test]
async fn a_conversation_holds_one_live_task_and_deleted_tasks_disappear() {
    let mock = seeded().await;
    let client = http();
    let (web, platform) = factory_uids(&client, &mock).await;
    let loose = get(&client, &mock, "/agent/runs?q=flaky%20checkout").await;
    let run = &loose.body["runs"][0];
    assert!(run.get("factory_uid").is_none());
    let conversation = run["conversation_id"]
        .as_str()
        .expect("conversation")
        .to_owned();
    let run_id = run["run_id"].as_str().expect("run").to_owned();

    let created = post(
        &client,
        &mock,
        &format!("/factory/{web}/tasks"),
        json!({"conversation_id": conversation, "title": "  Flaky checkout test  "}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let task = &created.body;
    assert_eq!(task["stage"], "TRIAGE", "the default stage");
    assert_eq!(task["title"], "Flaky checkout test");
    assert_eq!(task["run_id"], json!(run_id));
    assert_eq!(task["conversation_id"], json!(conversation));
    assert_eq!(task["author"]["uid"], "usr_mock_0001");
    assert!(task.get("description").is_none());
    let uid = task["uid"].as_str().expect("uid").to_owned();
    let path = format!("/factory/{web}/tasks/{uid}");

    // One live task per conversation, across factories.
    let twice = post(
        &client,
        &mock,
        &format!("/factory/{platform}/tasks"),
        json!({"conversation_id": conversation, "title": "Again"}),
    )
    .await;
    assert_problem(&twice, StatusCode::CONFLICT, "conflict", &uid);
    assert_eq!(twice.body["retryable"], false);
    let unknown_conversation = post(
        &client,
        &mock,
        &format!("/factory/{web}/tasks"),
        json!({"conversation_id": "nope", "title": "x"}),
    )
    .await;
    assert_problem(
        &unknown_conversation,
        StatusCode::NOT_FOUND,
        "resource_not_found",
        "nope",
    );
    let unknown_factory = post(
        &client,
        &mock,
        "/factory/nope/tasks",
        json!({"conversation_id": conversation, "title": "x"}),
    )
    .await;
    assert_problem(
        &unknown_factory,
        StatusCode::NOT_FOUND,
        "resource_not_found",
        "factory",
    );
    for (body, names) in [
        (json!({"conversation_id": conversation}), "title"),
        (json!({"title": "x"}), "conversation_id"),
        (
            json!({"conversation_id": conversation, "title": "x", "stage": "DONE"}),
            "stage",
        ),
        (
            json!({"conversation_id": 7, "title": "x"}),
            "conversation_id",
        ),
        (json!(["not", "an", "object"]), "object"),
    ] {
        let answer = post(&client, &mock, &format!("/factory/{web}/tasks"), body).await;
        assert_problem(&answer, StatusCode::BAD_REQUEST, "invalid_request", names);
    }

    // Partial updates; any stage may follow any stage; null or "" clears the description.
    let described = patch(
        &client,
        &mock,
        &path,
        json!({"description": "Seen twice this week", "stage": "COMPLETE"}),
    )
    .await;
    assert_eq!(described.body["description"], "Seen twice this week");
    assert_eq!(described.body["stage"], "COMPLETE");
    assert_eq!(described.body["title"], "Flaky checkout test", "untouched");
    assert!(described.body["updated_at"].as_str() >= task["updated_at"].as_str());
    let back = patch(
        &client,
        &mock,
        &path,
        json!({"stage": "TRIAGE", "description": null}),
    )
    .await;
    assert_eq!(back.body["stage"], "TRIAGE");
    assert!(back.body.get("description").is_none());
    let renamed = patch(
        &client,
        &mock,
        &path,
        json!({"title": "Checkout test flakes"}),
    )
    .await;
    assert_eq!(renamed.body["title"], "Checkout test flakes");
    for (body, names) in [
        (json!({"title": ""}), "title"),
        (json!({"title": null}), "title"),
        (json!({"stage": "NEW"}), "stage"),
        (json!({"description": 3}), "description"),
    ] {
        let answer = patch(&client, &mock, &path, body).await;
        assert_problem(&answer, StatusCode::BAD_REQUEST, "invalid_request", names);
    }
    let elsewhere = patch(
        &client,
        &mock,
        &format!("/factory/{platform}/tasks/{uid}"),
        json!({}),
    )
    .await;
    assert_problem(
        &elsewhere,
        StatusCode::NOT_FOUND,
        "resource_not_found",
        &uid,
    );

    // A COMPLETE task no longer holds the conversation.
    patch(&client, &mock, &path, json!({"stage": "COMPLETE"})).await;
    let rebound = post(
        &client,
        &mock,
        &format!("/factory/{platform}/tasks"),
        json!({"conversation_id": conversation, "title": "Second look", "stage": "SPEC", "description": "d"}),
    )
    .await;
    assert_eq!(rebound.status, StatusCode::CREATED, "{:?}", rebound.body);
    assert_eq!(rebound.body["stage"], "SPEC");
    let by_conversation = get(
        &client,
        &mock,
        &format!("/factory/{web}/task-by-conversation?conversation_id={conversation}"),
    )
    .await;
    assert_eq!(
        by_conversation.body["uid"],
        json!(uid),
        "factory-scoped lookup"
    );

    // Soft delete: gone from get and list at once.
    let deleted = send(api(&client, &mock, Method::DELETE, &path)).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.raw.is_empty());
    assert_eq!(
        get(&client, &mock, &path).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(api(&client, &mock, Method::DELETE, &path))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let listed = all_tasks(&client, &mock, &web, "").await;
    assert!(listed.iter().all(|t| t["uid"] != json!(uid)));
    let gone = get(
        &client,
        &mock,
        &format!("/factory/{web}/task-by-conversation?conversation_id={conversation}"),
    )
    .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    // The conversation and its run are untouched.
    assert_eq!(
        get_run(&client, &mock, &run_id).await["conversation_id"],
        json!(conversation)
    );
    let missing = get(
        &client,
        &mock,
        &format!("/factory/{web}/task-by-conversation"),
    )
    .await;
    assert_problem(
        &missing,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "conversation_id",
    );
}

/// Moving an ended task back to a live stage cannot give its conversation a second live task:
/// the service refuses it with 409 and the task stays as it was.
#[tokio::test]
async fn an_update_never_makes_a_second_live_task_for_a_conversation() {
    let mock = seeded().await;
    let client = http();
    let (web, platform) = factory_uids(&client, &mock).await;
    let loose = get(&client, &mock, "/agent/runs?q=flaky%20checkout").await;
    let conversation = loose.body["runs"][0]["conversation_id"]
        .as_str()
        .expect("conversation")
        .to_owned();
    let create = |factory: &str| {
        let request = api(
            &client,
            &mock,
            Method::POST,
            &format!("/factory/{factory}/tasks"),
        )
        .json(&json!({"conversation_id": conversation, "title": "Flaky checkout"}));
        async move {
            let created = send(request).await;
            assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
            created.body["uid"].as_str().expect("uid").to_owned()
        }
    };
    let first = create(&web).await;
    let first_path = format!("/factory/{web}/tasks/{first}");
    let done = patch(&client, &mock, &first_path, json!({"stage": "COMPLETE"})).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    let second = create(&platform).await;
    let second_path = format!("/factory/{platform}/tasks/{second}");

    for stage in ["TRIAGE", "SPEC", "IMPLEMENT", "REVIEW"] {
        let back = patch(
            &client,
            &mock,
            &first_path,
            json!({"stage": stage, "title": "Renamed"}),
        )
        .await;
        assert_problem(&back, StatusCode::CONFLICT, "conflict", &second);
        assert_eq!(back.body["retryable"], false);
        assert_eq!(
            back.headers
                .get("x-should-retry")
                .and_then(|v| v.to_str().ok()),
            Some("false")
        );
    }
    let unchanged = get(&client, &mock, &first_path).await;
    assert_eq!(unchanged.body["stage"], "COMPLETE", "{:?}", unchanged.body);
    assert_eq!(unchanged.body["title"], "Flaky checkout", "nothing changed");
    let bound = get(
        &client,
        &mock,
        &format!("/factory/{platform}/task-by-conversation?conversation_id={conversation}"),
    )
    .await;
    assert_eq!(bound.body["uid"], json!(second));

    // What keeps one live task is allowed: other members, ended stages, moves of the live
    // task itself, and moving the first back once the second has ended.
    let renamed = patch(&client, &mock, &first_path, json!({"title": "Renamed"})).await;
    assert_eq!(renamed.status, StatusCode::OK, "{:?}", renamed.body);
    let cancelled = patch(&client, &mock, &first_path, json!({"stage": "CANCELLED"})).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    let moved = patch(&client, &mock, &second_path, json!({"stage": "REVIEW"})).await;
    assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);
    let ended = patch(&client, &mock, &second_path, json!({"stage": "COMPLETE"})).await;
    assert_eq!(ended.status, StatusCode::OK, "{:?}", ended.body);
    let revived = patch(&client, &mock, &first_path, json!({"stage": "TRIAGE"})).await;
    assert_eq!(revived.status, StatusCode::OK, "{:?}", revived.body);
    assert_eq!(revived.body["stage"], "TRIAGE");
}

#[tokio::test]
async fn cancelling_a_task_cancels_its_run_tree() {
    let mock = seeded().await;
    let client = http();
    let (web, _) = factory_uids(&client, &mock).await;
    let tasks = all_tasks(&client, &mock, &web, "include_current_run=true").await;
    let implement = titled(&tasks, "dark mode");
    let root = implement["current_run"]["run_id"]
        .as_str()
        .expect("root")
        .to_owned();
    let children: Vec<String> = get_run(&client, &mock, &root).await["children"]
        .as_array()
        .expect("children")
        .iter()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    assert_eq!(children.len(), 2);
    let states = |ids: Vec<String>| {
        let client = client.clone();
        let mock = &mock;
        async move {
            let mut out = Vec::new();
            for id in ids {
                out.push(
                    get_run(&client, mock, &id).await["state"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned(),
                );
            }
            out
        }
    };
    assert_eq!(states(children.clone()).await, ["INPROGRESS", "QUEUED"]);

    let uid = implement["uid"].as_str().expect("uid");
    let cancelled = post(
        &client,
        &mock,
        &format!("/factory/{web}/tasks/{uid}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    assert_eq!(cancelled.body["stage"], "CANCELLED");
    assert_eq!(cancelled.body["current_run"]["state"], "CANCELLED");
    let mut tree = vec![root];
    tree.extend(children);
    assert_eq!(states(tree).await, ["CANCELLED"; 3]);
    let again = send(api(
        &client,
        &mock,
        Method::POST,
        &format!("/factory/{web}/tasks/{uid}/cancel"),
    ))
    .await;
    assert_problem(&again, StatusCode::CONFLICT, "conflict", "CANCELLED");
    let complete = titled(&tasks, "React 19")["uid"]
        .as_str()
        .expect("uid")
        .to_owned();
    let finished = post(
        &client,
        &mock,
        &format!("/factory/{web}/tasks/{complete}/cancel"),
        json!({}),
    )
    .await;
    assert_problem(&finished, StatusCode::CONFLICT, "conflict", "COMPLETE");
    let unknown = post(
        &client,
        &mock,
        &format!("/factory/{web}/tasks/nope/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    // Cancelling a task's current top-level run directly moves the task to CANCELLED too.
    let triage = titled(&tasks, "Safari");
    let run = triage["current_run"]["run_id"].as_str().expect("run");
    let answer = post(
        &client,
        &mock,
        &format!("/agent/runs/{run}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    let uid = triage["uid"].as_str().expect("uid");
    let after = get(&client, &mock, &format!("/factory/{web}/tasks/{uid}")).await;
    assert_eq!(after.body["stage"], "CANCELLED");
}

#[tokio::test(start_paused = true)]
async fn a_factory_run_gets_its_task_once_it_leaves_queued() {
    let mock = OzMock::builder()
        .progression(Progression::Stepped(Duration::from_secs(1)))
        .start()
        .await
        .expect("start");
    let client = http();
    let (web, platform) = factory_uids(&client, &mock).await;

    let created = post(
        &client,
        &mock,
        &format!("/factory/{web}/runs"),
        json!({"prompt": "Make the footer sticky\n\nOn every page.", "title": "Sticky footer",
               "ticket_ref": "linear:WEB-321", "ticket_url": "https://linear.app/warp-mock/issue/WEB-321"}),
    )
    .await;
    assert_eq!(created.status, StatusCode::OK, "{:?}", created.body);
    let run_id = created.body["run_id"].as_str().expect("run").to_owned();
    assert_eq!(created.body["state"], "QUEUED");
    assert_eq!(created.body["factory_uid"], json!(web));
    assert_eq!(created.body["foreman_agent"], "web-foreman");
    assert_eq!(created.body["ticket_ref"], "linear:WEB-321");
    assert!(
        created.body["run_url"]
            .as_str()
            .expect("url")
            .contains(&run_id)
    );
    assert_eq!(mock.created_run_count(), 1);

    // A real run, listed with its factory.
    let listed = get(&client, &mock, &format!("/agent/runs?factory_uid={web}")).await;
    let run = &listed.body["runs"][0];
    assert_eq!(run["run_id"], json!(run_id));
    assert_eq!(run["factory_uid"], json!(web));
    assert_eq!(run["source"], "API");
    assert_eq!(run["title"], "Sticky footer");
    assert_eq!(run["root_run_id"], json!(run_id));
    assert_eq!(
        run["metadata"],
        json!({"ticket_source": "linear", "ticket_id": "WEB-321",
                                       "ticket_url": "https://linear.app/warp-mock/issue/WEB-321"})
    );
    assert_eq!(run["agent_config"]["name"], "web-foreman");

    let by_run = format!("/factory/{web}/task-by-run?run_id={run_id}");
    let early = get(&client, &mock, &by_run).await;
    assert_eq!(
        early.status,
        StatusCode::NOT_FOUND,
        "no task while the run is QUEUED"
    );
    assert!(all_tasks(&client, &mock, &web, "").await.is_empty());

    tokio::time::advance(Duration::from_millis(1_100)).await;
    let task = get(&client, &mock, &by_run).await;
    assert_eq!(task.status, StatusCode::OK, "{:?}", task.body);
    assert_eq!(task.body["title"], "Sticky footer");
    assert_eq!(task.body["stage"], "TRIAGE");
    assert_eq!(task.body["run_id"], json!(run_id));
    assert_eq!(task.body["ticket_id"], "WEB-321");
    assert_eq!(task.body["current_run"]["state"], "PENDING");
    let conversation = task.body["conversation_id"].as_str().expect("conversation");
    assert_eq!(
        get_run(&client, &mock, &run_id).await["conversation_id"],
        json!(conversation)
    );
    assert_eq!(all_tasks(&client, &mock, &web, "").await.len(), 1);

    // Any run of the tree finds it; another factory does not.
    let child = post(
        &client,
        &mock,
        "/agent/runs",
        json!({"prompt": "Sub-task", "parent_run_id": run_id}),
    )
    .await;
    let child_id = child.body["run_id"].as_str().expect("child");
    let child_run = get_run(&client, &mock, child_id).await;
    assert_eq!(child_run["root_run_id"], json!(run_id));
    let via_child = get(
        &client,
        &mock,
        &format!("/factory/{web}/task-by-run?run_id={child_id}"),
    )
    .await;
    assert_eq!(via_child.body["uid"], task.body["uid"]);
    let elsewhere = get(
        &client,
        &mock,
        &format!("/factory/{platform}/task-by-run?run_id={run_id}"),
    )
    .await;
    assert_problem(
        &elsewhere,
        StatusCode::NOT_FOUND,
        "resource_not_found",
        &run_id,
    );
    let unknown = get(
        &client,
        &mock,
        &format!("/factory/{web}/task-by-run?run_id=nope"),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let missing = get(
        &client,
        &mock,
        &format!("/factory/{web}/task-by-run?run_id="),
    )
    .await;
    assert_problem(
        &missing,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "run_id",
    );

    // Without a title or ticket: both derived.
    let minted = post(
        &client,
        &mock,
        &format!("/factory/{platform}/runs"),
        json!({"prompt": "Bump the base image"}),
    )
    .await;
    assert_eq!(minted.status, StatusCode::OK);
    assert!(
        minted.body["ticket_ref"]
            .as_str()
            .expect("ref")
            .starts_with("adhoc:")
    );
    let minted_run = get_run(&client, &mock, minted.body["run_id"].as_str().expect("run")).await;
    assert_eq!(minted_run["title"], "Bump the base image");
    assert_eq!(minted_run["agent_config"]["harness"]["type"], "claude");
    for (body, names) in [
        (json!({}), "prompt"),
        (json!({"prompt": "  "}), "prompt"),
        (json!({"prompt": "x", "ticket_ref": "WEB-1"}), "ticket_ref"),
        (
            json!({"prompt": "x", "ticket_url": "not a url"}),
            "ticket_url",
        ),
        (json!({"prompt": "x", "title": 3}), "title"),
    ] {
        let answer = post(&client, &mock, &format!("/factory/{web}/runs"), body).await;
        assert_problem(&answer, StatusCode::BAD_REQUEST, "invalid_request", names);
    }
    let unknown = post(&client, &mock, "/factory/nope/runs", json!({"prompt": "x"})).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn list_runs_filters_by_factory_and_task_status_and_runs_carry_the_new_fields() {
    let mock = seeded().await;
    let client = http();
    let (web, platform) = factory_uids(&client, &mock).await;
    let ids = |answer: &Answer| -> HashSet<String> {
        answer.body["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .filter_map(|r| r["run_id"].as_str().map(str::to_owned))
            .collect()
    };
    let all = get(&client, &mock, "/agent/runs?limit=100").await;
    assert_eq!(ids(&all).len(), 13);
    let factory_runs = get(&client, &mock, "/agent/runs?limit=100&factory_only=true").await;
    assert_eq!(ids(&factory_runs).len(), 12, "all but the loose run");
    assert!(
        factory_runs.body["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .all(|r| r["factory_uid"].is_string())
    );
    let both = get(
        &client,
        &mock,
        &format!("/agent/runs?limit=100&factory_uid={web}&factory_uid={platform}"),
    )
    .await;
    assert_eq!(ids(&both), ids(&factory_runs));
    let platform_only = get(
        &client,
        &mock,
        &format!("/agent/runs?limit=100&factory_uid={platform}"),
    )
    .await;
    assert_eq!(ids(&platform_only).len(), 3);

    // running: the root or a descendant is live; the others read the root's state.
    let running = get(&client, &mock, "/agent/runs?limit=100&task_status=running").await;
    let running_titles: HashSet<&str> = running.body["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["title"].as_str())
        .collect();
    assert!(running_titles.contains("Implement: theme tokens"));
    assert!(running_titles.contains("Login button misaligned on Safari"));
    assert!(!running_titles.contains("Upgrade to React 19"));
    let ended = get(
        &client,
        &mock,
        "/agent/runs?limit=100&task_status=complete&task_status=cancelled&task_status=blocked",
    )
    .await;
    let states: HashSet<&str> = ended.body["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["state"].as_str())
        .collect();
    assert_eq!(states, HashSet::from(["SUCCEEDED", "CANCELLED", "BLOCKED"]));
    let sources = get(
        &client,
        &mock,
        "/agent/runs?limit=100&source=LINEAR&source=JIRA",
    )
    .await;
    assert!(
        sources.body["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .all(|r| r["source"] == "LINEAR" || r["source"] == "JIRA")
    );
    assert_eq!(ids(&sources).len(), 3);
    for (bad, names) in [
        ("task_status=done", "task_status"),
        ("factory_only=yes", "factory_only"),
        ("source=FAX", "source"),
    ] {
        let answer = get(&client, &mock, &format!("/agent/runs?{bad}")).await;
        assert_problem(&answer, StatusCode::BAD_REQUEST, "invalid_request", names);
    }

    // New members of run bodies.
    let runs = all.body["runs"].as_array().expect("runs");
    let by_title = |title: &str| {
        runs.iter()
            .find(|r| r["title"] == title)
            .unwrap_or_else(|| panic!("no run {title}"))
    };
    let finished = by_title("Upgrade to React 19");
    assert!(finished["finished_at"].is_string());
    assert_eq!(finished["root_run_id"], finished["run_id"]);
    assert_eq!(finished["submitted_prompt"], "Upgrade to React 19");
    let usage = &finished["request_usage"];
    let model_usage = &usage["model_token_usage"][0];
    assert_eq!(model_usage["usage_type"], "warp");
    assert_eq!(model_usage["total_tokens"], usage["total_tokens"]);
    let by_category: i64 = model_usage["tokens_by_category"]
        .as_object()
        .expect("categories")
        .values()
        .filter_map(Value::as_i64)
        .sum();
    assert_eq!(json!(by_category), usage["total_tokens"]);
    let primary = &usage["usage_by_category"]["primary_agent"];
    assert!(primary["platform_usage_in_cents"].is_number());
    let detail = primary["direct_api_inference_usage"]
        .as_object()
        .and_then(|m| m.values().next())
        .expect("a model");
    assert!(
        detail["token_count"]["input"].is_i64()
            && detail["cost_in_cents"]["output_cost_in_cents"].is_number()
    );
    let live = by_title("Login button misaligned on Safari");
    assert!(live.get("finished_at").is_none() && live.get("request_usage").is_none());
    let child = by_title("Implement: settings panel switch");
    assert_eq!(
        child["root_run_id"],
        by_title("Implement the dark mode toggle")["run_id"]
    );
    let codex = by_title("Tag every storage bucket with its owner");
    assert!(
        codex["request_usage"].get("model_token_usage").is_none(),
        "no per-model usage on third-party harnesses"
    );
}

#[tokio::test]
async fn interrupts_reach_only_live_runs_on_warps_harness() {
    let mock = seeded().await;
    let client = http();
    let id = create_run(&client, &mock, "Refactor the router").await;
    assert!(mock.set_run_state(&id, RunState::Inprogress));
    let accepted = send(api(
        &client,
        &mock,
        Method::POST,
        &format!("/agent/runs/{id}/interrupt"),
    ))
    .await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED);
    assert_eq!(accepted.body, json!({"run_id": id}));
    assert_eq!(
        get_run(&client, &mock, &id).await["state"],
        "INPROGRESS",
        "the run goes on"
    );
    let with_body = post(
        &client,
        &mock,
        &format!("/agent/runs/{id}/interrupt"),
        json!({"ignored": true}),
    )
    .await;
    assert_eq!(with_body.status, StatusCode::ACCEPTED);

    // By conversation: the conversation's newest run.
    let conversation = get_run(&client, &mock, &id).await["conversation_id"]
        .as_str()
        .expect("c")
        .to_owned();
    let newer = post(
        &client,
        &mock,
        "/agent/runs",
        json!({"prompt": "Continue", "conversation_id": conversation}),
    )
    .await;
    let newer = newer.body["run_id"].as_str().expect("run").to_owned();
    assert!(mock.set_run_state(&newer, RunState::Claimed));
    let by_conversation = post(
        &client,
        &mock,
        &format!("/agent/conversations/{conversation}/interrupt"),
        json!({}),
    )
    .await;
    assert_eq!(by_conversation.status, StatusCode::ACCEPTED);
    assert_eq!(by_conversation.body, json!({"run_id": newer}));

    assert!(mock.set_run_state(&newer, RunState::Succeeded));
    let ended = send(api(
        &client,
        &mock,
        Method::POST,
        &format!("/agent/conversations/{conversation}/interrupt"),
    ))
    .await;
    assert_problem(&ended, StatusCode::CONFLICT, "conflict", "SUCCEEDED");
    assert_eq!(ended.body["retryable"], false);
    let claude = post(
        &client,
        &mock,
        "/agent/runs",
        json!({"prompt": "x", "config": {"harness": {"type": "claude"}}}),
    )
    .await;
    let claude = claude.body["run_id"].as_str().expect("run").to_owned();
    assert!(mock.set_run_state(&claude, RunState::Inprogress));
    let refused = send(api(
        &client,
        &mock,
        Method::POST,
        &format!("/agent/runs/{claude}/interrupt"),
    ))
    .await;
    assert_problem(
        &refused,
        StatusCode::BAD_REQUEST,
        "operation_not_supported",
        "claude",
    );
    let unknown = send(api(
        &client,
        &mock,
        Method::POST,
        "/agent/runs/nope/interrupt",
    ))
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let unknown = send(api(
        &client,
        &mock,
        Method::POST,
        "/agent/conversations/nope/interrupt",
    ))
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let anonymous =
        send(client.post(format!("{}/agent/runs/{id}/interrupt", mock.base_url()))).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn follow_ups_answer_how_they_were_routed() {
    let mock = OzMock::start().await.expect("start");
    let client = http();
    let id = create_run(&client, &mock, "Write the migration").await;
    let path = format!("/agent/runs/{id}/followups");
    let queued = post(
        &client,
        &mock,
        &path,
        json!({"message": "Use a transaction"}),
    )
    .await;
    assert_eq!(queued.status, StatusCode::OK, "{:?}", queued.body);
    assert_eq!(
        queued.body,
        json!({"run_id": id, "outcome": "queued_prompt"})
    );
    let run = get_run(&client, &mock, &id).await;
    assert_eq!(
        run["submitted_prompt"],
        "Write the migration\n\nUse a transaction"
    );
    assert_eq!(run["prompt"], "Write the migration");

    assert!(mock.set_run_state(&id, RunState::Inprogress));
    let live = post(
        &client,
        &mock,
        &path,
        json!({"message": "And a rollback", "mode": "plan"}),
    )
    .await;
    assert_eq!(live.body["outcome"], "live_session");
    assert!(live.body["followup_id"].is_string());
    assert!(mock.set_run_state(&id, RunState::Claimed));
    let pending = post(&client, &mock, &path, json!({"message": "Soon"})).await;
    assert_eq!(pending.body["outcome"], "queue_pending");
    assert!(mock.set_run_state(&id, RunState::Succeeded));
    let conversation = get_run(&client, &mock, &id).await["conversation_id"]
        .as_str()
        .expect("c")
        .to_owned();
    let handoff = post(
        &client,
        &mock,
        &format!("/agent/conversations/{conversation}/followups"),
        json!({"message": "One more thing", "attachments": [{"attachment_id": "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b", "file_name": "log.txt"}]}),
    )
    .await;
    assert_eq!(handoff.status, StatusCode::OK, "{:?}", handoff.body);
    assert_eq!(handoff.body["run_id"], json!(id));
    assert_eq!(handoff.body["outcome"], "handoff_execution");
    assert!(handoff.body["followup_id"].is_string());
    assert_eq!(
        mock.run_state(&id),
        Some(RunState::Queued),
        "a new execution"
    );

    let too_many: Vec<Value> = (0..26)
        .map(|_| json!({"attachment_id": "6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b"}))
        .collect();
    let answer = post(&client, &mock, &path, json!({"attachments": too_many})).await;
    assert_problem(
        &answer,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "attachments",
    );
    let answer = post(
        &client,
        &mock,
        &path,
        json!({"attachments": [{"attachment_id": "nope"}]}),
    )
    .await;
    assert_problem(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_attachment",
        "nope",
    );
    let answer = post(
        &client,
        &mock,
        &path,
        json!({"attachments": [{"file_name": "x"}]}),
    )
    .await;
    assert_problem(
        &answer,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "attachment_id",
    );
    let answer = post(
        &client,
        &mock,
        &path,
        json!({"message": "x", "mode": "fast"}),
    )
    .await;
    assert_problem(&answer, StatusCode::BAD_REQUEST, "invalid_request", "mode");
    let fresh = create_run(&client, &mock, "Another").await;
    let answer = post(
        &client,
        &mock,
        &format!("/agent/runs/{fresh}/followups"),
        json!({}),
    )
    .await;
    assert_problem(
        &answer,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "message",
    );
    let answer = post(
        &client,
        &mock,
        "/agent/conversations/nope/followups",
        json!({"message": "x"}),
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn harness_usage_is_an_envelope_for_claude_code_and_codex_runs() {
    let mock = seeded().await;
    let client = http();
    let runs = get(&client, &mock, "/agent/runs?limit=100").await;
    let run_titled = |title: &str| {
        runs.body["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .find(|r| r["title"] == title)
            .and_then(|r| r["run_id"].as_str())
            .expect("run")
            .to_owned()
    };
    let usage = |id: String| {
        let client = client.clone();
        let mock = &mock;
        async move { get(&client, mock, &format!("/agent/runs/{id}/harness-usage")).await }
    };

    let claude = usage(run_titled("Rotate the database credentials")).await;
    assert_eq!(claude.status, StatusCode::OK);
    assert_eq!(claude.body["available"], true);
    assert!(claude.body["conversation_id"].is_string() && claude.body["age_seconds"].is_i64());
    let envelope = &claude.body["usage"];
    assert_eq!(envelope["harness"], "CLAUDE_CODE");
    assert_eq!(envelope["metricsVersion"], 1);
    assert!(envelope["captureSequence"].is_i64() && envelope["executionId"].is_i64());
    assert!(envelope["capturedAt"].is_string());
    assert_eq!(
        envelope["snapshot"]["coverage"],
        json!({"tokenStatus": "known", "toolStatus": "known"})
    );
    let payload = &envelope["snapshot"]["payload"];
    assert!(payload["usage"]["cache_read_input_tokens"].is_i64());
    assert_eq!(payload["toolCalls"]["total"], 23);
    assert_eq!(payload["attribution"][0]["model"], "claude-sonnet-4-6");
    let in_progress = usage(run_titled("Move the queue workers to the new runtime")).await;
    assert_eq!(
        in_progress.body["usage"]["snapshot"]["coverage"]["tokenStatus"],
        "partial"
    );

    let codex = usage(run_titled("Tag every storage bucket with its owner")).await;
    assert_eq!(codex.body["usage"]["harness"], "CODEX");
    assert!(
        codex.body["usage"]["snapshot"]["payload"]["usage"]["reasoning_output_tokens"].is_i64()
    );

    let warp = usage(run_titled("Upgrade to React 19")).await;
    assert_eq!(warp.status, StatusCode::OK);
    assert_eq!(warp.body["available"], false);
    assert!(warp.body.get("usage").is_none());
    let queued = usage(run_titled("Implement: theme tokens")).await;
    assert_problem(
        &queued,
        StatusCode::NOT_FOUND,
        "resource_not_found",
        "conversation",
    );
    let unknown = usage("nope".to_owned()).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test(start_paused = true)]
async fn conversation_screenshots_redirect_to_signed_storage_urls() {
    let mock = OzMock::builder()
        .seed_factory_tasks(true)
        .signed_url_ttl(Duration::from_secs(60))
        .start()
        .await
        .expect("start");
    let client = http();
    let runs = get(&client, &mock, "/agent/runs?artifact_type=SCREENSHOT").await;
    let run = &runs.body["runs"][0];
    let conversation = run["conversation_id"].as_str().expect("conversation");
    let uid = run["artifacts"]
        .as_array()
        .expect("artifacts")
        .iter()
        .find(|a| a["artifact_type"] == "SCREENSHOT")
        .and_then(|a| a["data"]["artifact_uid"].as_str())
        .expect("screenshot");
    let path = format!("/agent/conversations/{conversation}/screenshots/{uid}/download");
    let redirect = get(&client, &mock, &path).await;
    assert_eq!(redirect.status, StatusCode::FOUND);
    let location = redirect.location().to_owned();
    assert!(location.starts_with(&mock.storage_origin()), "{location}");
    let image = send(client.get(&location)).await;
    assert_eq!(image.status, StatusCode::OK);
    assert_eq!(image.content_type(), Some("image/png"));
    assert!(image.raw.starts_with(b"\x89PNG"));
    let stored = mock.storage_requests();
    assert!(stored.iter().all(|r| r.header("authorization").is_none()));
    let tampered = location.replace("sig=", "sig=0");
    assert_eq!(
        send(client.get(&tampered)).await.status,
        StatusCode::FORBIDDEN
    );
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(
        send(client.get(&location)).await.status,
        StatusCode::FORBIDDEN
    );
    // A fresh redirect works again.
    let again = get(&client, &mock, &path).await;
    assert_eq!(
        send(client.get(again.location())).await.status,
        StatusCode::OK
    );

    let other = get(&client, &mock, "/agent/runs?q=flaky%20checkout").await;
    let other_conversation = other.body["runs"][0]["conversation_id"]
        .as_str()
        .expect("c");
    let wrong = get(
        &client,
        &mock,
        &format!("/agent/conversations/{other_conversation}/screenshots/{uid}/download"),
    )
    .await;
    assert_problem(&wrong, StatusCode::NOT_FOUND, "resource_not_found", uid);
    let unknown = get(
        &client,
        &mock,
        &format!("/agent/conversations/nope/screenshots/{uid}/download"),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn factory_file_schemas_revalidate_with_etags() {
    let mock = OzMock::start().await.expect("start");
    let client = http();
    let anonymous = |path: &str| client.get(format!("{}{path}", mock.base_url()));

    let list = send(anonymous("/factory-files/schemas")).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(
        list.body,
        json!({"current_version": "v1alpha1",
               "versions": [{"schema_version": "v1alpha1", "schema_url": "/api/v1/factory-files/schemas/v1alpha1"}]})
    );
    let etag = list.headers[header::ETAG]
        .to_str()
        .expect("etag")
        .to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'));
    assert_eq!(
        send(anonymous("/factory-files/schemas")).await.headers[header::ETAG],
        etag.as_str(),
        "stable"
    );
    for matching in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
        "*".to_owned(),
    ] {
        let answer =
            send(anonymous("/factory-files/schemas").header(header::IF_NONE_MATCH, &matching))
                .await;
        assert_eq!(answer.status, StatusCode::NOT_MODIFIED, "{matching}");
        assert!(answer.raw.is_empty());
        assert_eq!(answer.headers[header::ETAG], etag.as_str());
    }
    let stale =
        send(anonymous("/factory-files/schemas").header(header::IF_NONE_MATCH, "\"ff-0\"")).await;
    assert_eq!(stale.status, StatusCode::OK);

    // A wrong key does not matter on public operations.
    let bundle = send(anonymous("/factory-files/schemas/v1alpha1").bearer_auth("wk-wrong")).await;
    assert_eq!(bundle.status, StatusCode::OK);
    assert_eq!(bundle.body["schema_version"], "v1alpha1");
    let documents = bundle.body["documents"].as_object().expect("documents");
    assert!(documents.len() >= 5);
    let bundle_tag = bundle.headers[header::ETAG]
        .to_str()
        .expect("etag")
        .to_owned();
    assert_ne!(bundle_tag, etag);
    let revalidated = send(
        anonymous("/factory-files/schemas/v1alpha1").header(header::IF_NONE_MATCH, &bundle_tag),
    )
    .await;
    assert_eq!(revalidated.status, StatusCode::NOT_MODIFIED);
    for (name, document) in documents {
        assert_eq!(document["$id"], json!(name));
        assert_eq!(
            document["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        let alone = send(anonymous(&format!(
            "/factory-files/schemas/v1alpha1/{name}"
        )))
        .await;
        assert_eq!(alone.status, StatusCode::OK, "{name}");
        assert_eq!(
            &alone.body, document,
            "{name} alone equals its copy in the bundle"
        );
    }
    assert_eq!(
        documents["factory.schema.json"]["required"],
        json!(["name"])
    );

    let unknown = send(anonymous("/factory-files/schemas/v2")).await;
    assert_problem(&unknown, StatusCode::NOT_FOUND, "resource_not_found", "v2");
    let unknown = send(anonymous("/factory-files/schemas/v2/factory.schema.json")).await;
    assert_problem(&unknown, StatusCode::NOT_FOUND, "resource_not_found", "v2");
    let unknown = send(anonymous("/factory-files/schemas/v1alpha1/nope.json")).await;
    assert_problem(
        &unknown,
        StatusCode::NOT_FOUND,
        "resource_not_found",
        "nope.json",
    );
}

#[tokio::test]
async fn validation_reports_diagnostics_and_refuses_malformed_bodies() {
    let mock = OzMock::start().await.expect("start");
    let client = http();
    let validate = |body: Value| validate_tree(&client, &mock, body);
    let factory = "schema_version: v1alpha1\nname: Web App Factory\ncode_forge: GITHUB\nrepositories:\n  - owner: warp-mock\n    repo: web-app\n";
    let agent = "---\nname: triage\nagent_type: FOREMAN\nsecrets:\n  - name: LINEAR_TOKEN\n---\nRead the ticket and decide.\n";
    let clean = validate(json!({"files": [
        {"path": "factory.yaml", "content": factory},
        {"path": "agents/triage/agent.md", "content": agent},
        {"path": "runners/default.json", "content": "{\"name\": \"default\", \"max_concurrent_runs\": 4}"},
    ]}))
    .await;
    assert_eq!(clean.status, StatusCode::OK, "{:?}", clean.body);
    assert_eq!(clean.body["valid"], true, "{:?}", clean.body);
    assert_eq!(clean.body["diagnostics"], json!([]));
    assert_eq!(clean.body["schema_version"], "v1alpha1");
    assert_eq!(
        clean.body["deferred_resolutions"],
        json!([{"path": "agents/triage/agent.md", "field": "secrets[0].name", "kind": "secret_name"}])
    );
    assert!(
        !clean.body["state_dependent_checks_not_run"]
            .as_array()
            .expect("checks")
            .is_empty()
    );
    assert_eq!(
        clean.body["validation_scope"],
        json!({"parser": "checked", "state_independent": "checked", "state_dependent": "not_checked"})
    );

    let broken = validate(json!({"files": [
        {"path": "factory.yaml", "content": "name: Web\nrepositories:\n  - owner: warp-mock\n   repo: web-app\n"},
    ]}))
    .await;
    assert_eq!(broken.status, StatusCode::OK);
    assert_eq!(broken.body["valid"], false);
    assert_eq!(
        broken.body["validation_scope"]["state_independent"],
        "not_run"
    );
    let diagnostic = &broken.body["diagnostics"][0];
    assert_eq!(diagnostic["path"], "factory.yaml");
    assert_eq!(diagnostic["line"], 4);
    assert_eq!(diagnostic["column"], 4);
    assert_eq!(diagnostic["code"], "FF_PARSE_ERROR");
    assert!(
        diagnostic["message"]
            .as_str()
            .expect("message")
            .contains("indentation")
    );

    let wrong = validate(json!({"files": [
        {"path": "factory.yaml", "content": "name: Web\ncredential_strategy: OWNER\nself_improvement:\n  failed_run_threshold: 99\n"},
        {"path": "automations/intake.yaml", "content": "name: intake\nagent: triage\ntriggers: []\n"},
    ]}))
    .await;
    let found: Vec<(String, u64, String)> = wrong.body["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|d| {
            (
                d["path"].as_str().unwrap_or("").to_owned(),
                d["line"].as_u64().unwrap_or(0),
                d["code"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    for expected in [
        ("factory.yaml", 2, "FF_INVALID_VALUE"),
        ("factory.yaml", 3, "FF_MISSING_FIELD"),
        ("factory.yaml", 4, "FF_INVALID_VALUE"),
        ("automations/intake.yaml", 3, "FF_INVALID_VALUE"),
        ("automations/intake.yaml", 2, "FF_UNKNOWN_AGENT"),
    ] {
        assert!(
            found.contains(&(expected.0.to_owned(), expected.1, expected.2.to_owned())),
            "{expected:?} not in {found:?}"
        );
    }

    for (body, names) in [
        (json!({}), "files"),
        (json!({"files": "factory.yaml"}), "files"),
        (
            json!({"files": [{"path": "factory.yaml"}]}),
            "files[0].content",
        ),
        (json!({"files": [{"content": "name: x"}]}), "files[0].path"),
        (json!({"files": [7]}), "files[0]"),
    ] {
        let answer = validate(body).await;
        assert_problem(&answer, StatusCode::BAD_REQUEST, "invalid_request", names);
    }
    let not_json = send(
        client
            .post(format!("{}/factory-files/validate", mock.base_url()))
            .header(header::CONTENT_TYPE, "application/json")
            .body("name: x"),
    )
    .await;
    assert_problem(
        &not_json,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "JSON",
    );
}

/// Posts a body to the public Factory-file validation.
async fn validate_tree(client: &reqwest::Client, mock: &OzMock, body: Value) -> Answer {
    send(
        client
            .post(format!("{}/factory-files/validate", mock.base_url()))
            .json(&body),
    )
    .await
}

/// Path, line, column and code of each diagnostic of a validation answer.
fn located(answer: &Answer) -> Vec<(&str, u64, u64, &str)> {
    answer.body["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .map(|d| {
            (
                d["path"].as_str().unwrap_or(""),
                d["line"].as_u64().unwrap_or(0),
                d["column"].as_u64().unwrap_or(0),
                d["code"].as_str().unwrap_or(""),
            )
        })
        .collect()
}

/// Files that use what the YAML specification allows beyond the everyday block style: anchors,
/// aliases, merge keys, nested flow collections, tags, several documents (the first that is
/// not empty is the resource); and a YAML error named by line and column.
#[tokio::test]
async fn factory_files_may_use_all_of_yaml() {
    let mock = OzMock::start().await.expect("start");
    let client = http();
    let validate = |files: Value| validate_tree(&client, &mock, json!({ "files": files }));
    let factory = "# Web App Factory\n---\nschema_version: !!str v1alpha1\nname: Web App Factory\n\
        code_forge: GITHUB\nrepositories: [{owner: warp-mock, repo: web-app}, {owner: warp-mock, repo: api}]\n\
        agent_defaults: &defaults\n  secrets:\n    - &token {name: NPM_TOKEN}\n...\n---\nname: ignored\n";
    let agent =
        "---\nname: triage\nagent_type: FOREMAN\nsecrets: [{name: LINEAR_TOKEN}]\n---\nDecide.\n";
    let automation = "base: &base\n  name: intake\n  agent: triage\n<<: *base\ntriggers:\n  - {type: linear, filter: {teams: [Web, Platform]}}\n";
    let answer = validate(json!([
        {"path": "factory.yaml", "content": factory},
        {"path": "agents/triage/agent.md", "content": agent},
        {"path": "runners/default.yaml", "content": "{name: default, max_concurrent_runs: 4}"},
    ]))
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["valid"], true, "{:#}", answer.body);
    assert_eq!(answer.body["schema_version"], "v1alpha1");

    // A merge key brings `name` and `agent`; the leftover `base` is a field no schema knows.
    let answer = validate(json!([
        {"path": "factory.yaml", "content": factory},
        {"path": "agents/triage/agent.md", "content": agent},
        {"path": "automations/intake.yaml", "content": automation},
    ]))
    .await;
    assert_eq!(
        located(&answer),
        [("automations/intake.yaml", 1, 1, "FF_UNKNOWN_FIELD")],
        "{:#}",
        answer.body
    );

    let answer = validate(json!([
        {"path": "factory.yaml", "content": "name: Web\nrepositories:\n  - {owner: warp-mock, repo: [web-app}\n"},
        {"path": "agents/triage/agent.md", "content": "---\nname: triage\nsecrets: *unknown\n---\n"},
    ]))
    .await;
    assert_eq!(answer.body["valid"], false);
    assert_eq!(
        located(&answer),
        [
            ("factory.yaml", 3, 38, "FF_PARSE_ERROR"),
            ("agents/triage/agent.md", 3, 10, "FF_PARSE_ERROR"),
        ],
        "{:#}",
        answer.body
    );
}

#[tokio::test]
async fn egress_ranges_and_appended_secrets() {
    let mock = OzMock::start().await.expect("start");
    let client = http();
    let ranges = send(
        api(&client, &mock, Method::GET, "/networking/egress-ranges")
            .header("X-Warp-Team-Uid", "team_mock_0001"),
    )
    .await;
    assert_eq!(ranges.status, StatusCode::OK);
    let cidrs = ranges.body["cidrs"].as_array().expect("cidrs");
    assert!(
        cidrs
            .iter()
            .all(|c| c.as_str().is_some_and(|c| c.contains('/')))
    );
    let anonymous = send(client.get(format!("{}/networking/egress-ranges", mock.base_url()))).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    let agent = post(
        &client,
        &mock,
        "/agent/identities",
        json!({"name": "deployer", "secrets": [{"name": "A"}]}),
    )
    .await;
    let uid = agent.body["uid"].as_str().expect("uid");
    let path = format!("/agent/identities/{uid}");
    let appended = send(
        api(&client, &mock, Method::PUT, &path)
            .json(&json!({"secrets_append": [{"name": "B"}, {"name": "A"}]})),
    )
    .await;
    assert_eq!(appended.status, StatusCode::OK, "{:?}", appended.body);
    assert_eq!(
        appended.body["secrets"],
        json!([{"name": "A"}, {"name": "B"}])
    );
    let bad = send(
        api(&client, &mock, Method::PUT, &path).json(&json!({"secrets_append": [{"name": ""}]})),
    )
    .await;
    assert_problem(
        &bad,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "secrets_append",
    );
}
