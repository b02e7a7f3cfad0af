//! The coverage gate: every operation of `openapi.json` has a success fixture and a fixture
//! for each error status it declares; every fixture folder names an operation.
//!
//! Operations marked `x-oz-unpublished` (the event stream `stream_agent_events`) are the
//! exception: the generated client has no call for them, so a fixture could not be replayed;
//! the simulator's tests and oz-api-ext's cover them.

use std::collections::{BTreeMap, BTreeSet};

use oz_conformance::Spec;
use oz_conformance::fixture::load_checked_in;
use serde_json::Value;

#[test]
fn every_operation_has_a_success_and_every_declared_error() {
    let spec = Spec::load();
    let mut statuses: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    for fixture in load_checked_in() {
        statuses
            .entry(fixture.operation_id)
            .or_default()
            .insert(fixture.fixture.response.status);
    }
    let mut missing = Vec::new();
    for operation in spec.operations() {
        if operation.unpublished {
            continue;
        }
        let have = statuses.get(&operation.id).cloned().unwrap_or_default();
        for status in operation.success_statuses() {
            if !have.contains(&status) {
                missing.push(format!(
                    "{}: no success fixture with status {status}",
                    operation.id
                ));
            }
        }
        for status in operation.error_statuses() {
            if !have.contains(&status) {
                missing.push(format!(
                    "{}: no fixture for declared error {status}",
                    operation.id
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "operations not covered by tests/fixtures/<operation_id>/:\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn every_fixture_folder_is_an_operation() {
    let spec = Spec::load();
    let ids: BTreeSet<String> = spec.operations().into_iter().map(|o| o.id).collect();
    // Every operation object under `paths` (whatever its method), counted from the document
    // itself: the ids must be unique and `Spec::operations` must see them all.
    let declared = spec
        .document
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(Value::as_object)
        .flat_map(|item| item.values())
        .filter(|op| op.get("operationId").is_some())
        .count();
    assert!(declared > 0, "openapi.json declares no operations");
    assert_eq!(
        ids.len(),
        declared,
        "openapi.json has {declared} operation objects but {} distinct operations were read \
         from it (a repeated operationId, or a method the harness does not read)",
        ids.len()
    );
    let strays: BTreeSet<String> = load_checked_in()
        .into_iter()
        .map(|f| f.operation_id)
        .filter(|id| !ids.contains(id))
        .collect();
    assert!(
        strays.is_empty(),
        "fixture folders without an operation: {strays:?}"
    );
}

/// An operation marked unpublished is one the generated client does not call: it has no
/// fixtures, which the replay could not send.
#[test]
fn unpublished_operations_have_no_fixtures() {
    let spec = Spec::load();
    let unpublished: BTreeSet<String> = spec
        .operations()
        .into_iter()
        .filter(|o| o.unpublished)
        .map(|o| o.id)
        .collect();
    assert_eq!(
        unpublished,
        BTreeSet::from(["stream_agent_events".to_owned()])
    );
    let with_fixtures: BTreeSet<String> = load_checked_in()
        .into_iter()
        .map(|f| f.operation_id)
        .filter(|id| unpublished.contains(id))
        .collect();
    assert!(with_fixtures.is_empty(), "{with_fixtures:?}");
}
