//! Conformance tests of the Oz API SDK. The tests live in `tests/tests/`; see `tests/README.md`.
