//! Every fixture's request and response body validated against the schemas `openapi.json`
//! gives for its operation and status (with `oz_mock::spec_validation`).

use oz_conformance::Spec;
use oz_conformance::check::report;
use oz_conformance::fixture::load_checked_in;

#[test]
fn every_fixture_matches_the_spec() {
    let spec = Spec::load();
    let fixtures = load_checked_in();
    let failures: Vec<String> = fixtures
        .iter()
        .flat_map(|f| spec.check_fixture(f))
        .collect();
    assert!(
        failures.is_empty(),
        "{}",
        report("spec", fixtures.len(), &failures)
    );
}

#[test]
fn exempt_fixtures_break_the_spec_only_where_they_say() {
    let spec = Spec::load();
    let exempt: Vec<_> = load_checked_in()
        .into_iter()
        .filter(|f| f.fixture.spec_exempt.is_some())
        .collect();
    assert!(
        exempt.len() >= 3,
        "expected fixtures with enum values the spec does not list yet"
    );
    for fixture in &exempt {
        // `check_fixture` fails an exempt fixture that validates or that breaks the spec
        // elsewhere; here the failure itself is checked, path by path.
        assert_eq!(spec.check_fixture(fixture), Vec::<String>::new());
        let body = fixture.fixture.response.body.clone().unwrap_or_default();
        let errors = spec
            .validator
            .validate(
                &fixture.operation_id,
                fixture.fixture.response.status,
                &body,
            )
            .expect_err("an exempt fixture breaks the spec");
        let paths: Vec<&str> = errors
            .iter()
            .filter_map(|e| oz_conformance::spec::error_path(e))
            .collect();
        for path in &fixture.fixture.spec_exempt.as_ref().unwrap().paths {
            assert!(
                paths.contains(&path.as_str()),
                "{}: {path} validates",
                fixture.label()
            );
        }
    }
}

#[test]
fn fixtures_with_unknown_fields_still_validate_because_schemas_are_open() {
    let spec = Spec::load();
    let with_unknown: Vec<_> = load_checked_in()
        .into_iter()
        .filter(|f| !f.fixture.unknown_fields.is_empty())
        .collect();
    assert!(
        !with_unknown.is_empty(),
        "expected fixtures with fields the SDK does not know"
    );
    for fixture in &with_unknown {
        let body = fixture.fixture.response.body.clone().unwrap_or_default();
        for pointer in &fixture.fixture.unknown_fields {
            assert!(
                body.pointer(pointer).is_some(),
                "{}: nothing at {pointer}",
                fixture.label()
            );
        }
        assert_eq!(spec.check_fixture(fixture), Vec::<String>::new());
    }
}
