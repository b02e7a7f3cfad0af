//! Networking: the address ranges outbound requests of Warp-hosted agents come from.

use axum::response::Response;
use serde_json::json;

use super::json;

/// Documentation prefixes (RFC 5737, RFC 3849): obviously not the service's real ranges, so an
/// allowlist copied from the simulator never opens anything.
const EGRESS_CIDRS: [&str; 4] = [
    "192.0.2.0/28",
    "198.51.100.64/27",
    "203.0.113.128/26",
    "2001:db8:4a7::/48",
];

/// `X-Warp-Team-Uid` is accepted and changes nothing: every team egresses from the same ranges.
pub(crate) async fn egress_ranges() -> Response {
    json(json!({"cidrs": EGRESS_CIDRS}))
}
