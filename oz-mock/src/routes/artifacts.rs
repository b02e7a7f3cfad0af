//! Artifacts: metadata with signed download URLs, and the download redirect.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde_json::json;

use super::{AppState, json, redirect};
use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::state::ArtifactKind;
use crate::state::render::{file_content, plan_content};
use crate::storage;

pub(crate) async fn get(
    axum::extract::State(shared): AppState,
    Path(uid): Path<String>,
) -> ApiResult<Response> {
    let (kind, created_at, title, url, plan, file_size) = {
        let state = shared.state();
        let (run, a) = state.artifact(&uid)?;
        (
            a.kind,
            a.created_at,
            a.title.clone(),
            a.url.clone(),
            plan_content(run),
            file_content(run).len(),
        )
    };
    let signed = || storage::signed_url(&shared, &storage::artifact_path(&uid, kind));
    let data = match kind {
        ArtifactKind::Plan => json!({
            "document_uid": format!("doc-{}", &uid[..8]),
            "notebook_uid": format!("nb-{}", &uid[..8]),
            "url": url,
            "title": title,
            "content": plan,
            "content_type": "text/markdown",
        }),
        ArtifactKind::Screenshot => {
            let (download_url, expires_at) = signed();
            json!({
                "download_url": download_url,
                "expires_at": rfc3339(expires_at),
                "content_type": "image/png",
                "description": title,
            })
        }
        ArtifactKind::File => {
            let (download_url, expires_at) = signed();
            json!({
                "download_url": download_url,
                "expires_at": rfc3339(expires_at),
                "content_type": "text/markdown",
                "filepath": "reports/test-report.md",
                "filename": "test-report.md",
                "title": title,
                "size_bytes": file_size,
            })
        }
        ArtifactKind::PullRequest | ArtifactKind::ExternalReference => {
            return Err(ApiError::not_found(format!("artifact {uid} not found")));
        }
    };
    Ok(json(json!({
        "artifact_uid": uid,
        "artifact_type": kind.as_str(),
        "created_at": rfc3339(created_at),
        "data": data,
    })))
}

pub(crate) async fn download(
    axum::extract::State(shared): AppState,
    Path(uid): Path<String>,
) -> ApiResult<Response> {
    let kind = shared.state().artifact(&uid)?.1.kind;
    if matches!(
        kind,
        ArtifactKind::PullRequest | ArtifactKind::ExternalReference
    ) {
        return Err(ApiError::invalid_request(format!(
            "{} artifacts have no downloadable content",
            kind.as_str()
        )));
    }
    let (url, _) = storage::signed_url(&shared, &storage::artifact_path(&uid, kind));
    let mut response = redirect(&url);
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}
