//! What every artifact of a run can be asked, whatever its kind: which file to download.

use crate::types::ArtifactItem;

impl ArtifactItem {
    /// The identifier of the file behind a FILE or SCREENSHOT artifact, for its download
    /// (`download_artifact_file(uid)` of `oz-api-ext`, or
    /// [`Client::get_artifact`](crate::Client::get_artifact) for its signed URL); `None` for the
    /// kinds without a file
    /// (plans, pull requests, links) and for kinds this version does not know.
    ///
    /// ```no_run
    /// # async fn example(client: oz_api::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let run = client.get_run().run_id("run-id").send().await?;
    /// for artifact in &run.artifacts {
    ///     if let Some(uid) = artifact.file_artifact_uid() {
    ///         let name = artifact.file_name().unwrap_or(uid);
    ///         println!("{name}: artifact {uid}");
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn file_artifact_uid(&self) -> Option<&str> {
        match self {
            ArtifactItem::FileArtifact(file) => Some(&file.data.artifact_uid),
            ArtifactItem::ScreenshotArtifact(shot) => Some(&shot.data.artifact_uid),
            _ => None,
        }
    }

    /// The file name of a FILE artifact as the agent uploaded it (`None` for screenshots, which
    /// have none, and for the kinds without a file); see
    /// [`file_artifact_uid`](Self::file_artifact_uid) for an example.
    pub fn file_name(&self) -> Option<&str> {
        match self {
            ArtifactItem::FileArtifact(file) => Some(&file.data.filename),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(json: serde_json::Value) -> ArtifactItem {
        serde_json::from_value(json).expect("an artifact")
    }

    #[test]
    fn files_and_screenshots_name_their_file_and_other_kinds_none() {
        let file = artifact(serde_json::json!({
            "artifact_type": "FILE",
            "created_at": "2026-12-01T10:00:00Z",
            "data": {
                "artifact_uid": "art-file",
                "filename": "report.md",
                "filepath": "out/report.md",
                "mime_type": "text/markdown"
            }
        }));
        assert_eq!(file.file_artifact_uid(), Some("art-file"));
        assert_eq!(file.file_name(), Some("report.md"));

        let shot = artifact(serde_json::json!({
            "artifact_type": "SCREENSHOT",
            "created_at": "2026-12-01T10:00:00Z",
            "data": {"artifact_uid": "art-shot", "mime_type": "image/png"}
        }));
        assert_eq!(shot.file_artifact_uid(), Some("art-shot"));
        assert_eq!(shot.file_name(), None);

        let plan = artifact(serde_json::json!({
            "artifact_type": "PLAN",
            "created_at": "2026-12-01T10:00:00Z",
            "data": {"document_uid": "doc-1", "notebook_uid": "nb-1", "url": "https://app.warp.dev/drive/notebook/nb-1"}
        }));
        assert!(matches!(plan, ArtifactItem::PlanArtifact(_)), "{plan:?}");
        assert_eq!(plan.file_artifact_uid(), None);

        let future = artifact(serde_json::json!({"artifact_type": "HOLOGRAM", "data": {}}));
        assert!(matches!(future, ArtifactItem::Unknown(_)));
        assert_eq!(future.file_artifact_uid(), None);
    }
}
