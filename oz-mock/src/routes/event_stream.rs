//! The real-time event stream (`stream_agent_events`), not served yet: the path answers 404 as
//! on a host without the stream.

use crate::error::{ApiError, ApiResult};

pub(crate) async fn stream() -> ApiResult<()> {
    Err(ApiError::not_found("no such endpoint"))
}
