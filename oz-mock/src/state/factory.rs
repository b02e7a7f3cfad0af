//! Factories: two seeded ones with the configuration the service reports, their listing, and
//! the runs dispatched to them.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::cursor::{PageRequest, SortKey};
use super::{Environment, NewRun, PRINCIPALS, PendingTask, State, TEAM_UID};
use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::ids;
use crate::query::Query;

/// The team that owns the second seeded factory (the first belongs to [`TEAM_UID`]).
pub(crate) const SECOND_TEAM_UID: &str = "team_mock_0002";

/// One factory.
pub(crate) struct Factory {
    pub(crate) uid: String,
    pub(crate) name: &'static str,
    pub(crate) alias: &'static str,
    pub(crate) team_uid: &'static str,
    /// Name of the agent that receives runs dispatched to the factory.
    pub(crate) foreman_agent: &'static str,
    pub(crate) default_model: Option<&'static str>,
    pub(crate) default_environment: Option<String>,
    /// Harness type (`oz`, `claude`, `codex`) the factory's agents run on by default.
    pub(crate) harness: &'static str,
    /// Whether the factory has an avatar (served from the storage origin).
    pub(crate) has_avatar: bool,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    /// The other fields of the `Factory` body (agent defaults, repositories, integrations...).
    pub(crate) settings: Value,
}

impl Factory {
    /// The `Factory` body; `avatar_url` is a freshly signed storage URL when it has an avatar.
    pub(crate) fn to_json(&self, avatar_url: Option<String>) -> Value {
        let mut v = self.settings.clone();
        v["uid"] = json!(self.uid);
        v["name"] = json!(self.name);
        v["alias"] = json!(self.alias);
        v["team_uid"] = json!(self.team_uid);
        v["created_at"] = json!(rfc3339(self.created_at));
        v["updated_at"] = json!(rfc3339(self.updated_at));
        // File-managed factories may leave these out.
        if let Some(model) = self.default_model {
            v["default_model"] = json!(model);
        }
        if let Some(env) = &self.default_environment {
            v["default_environment"] = json!(env);
        }
        if let Some(url) = avatar_url {
            v["avatar_url"] = json!(url);
        }
        v
    }

    /// Storage path of the factory's avatar.
    pub(crate) fn avatar_path(&self) -> String {
        format!("/storage/avatars/{}.png", self.uid)
    }
}

/// The configuration of the seeded factories (everything but names, ids and times), by alias;
/// `creator` is filled in.
const SEED_SETTINGS: &str = include_str!("seed_factories.json");

/// The seeded settings of the factory `alias`, with its creator.
fn settings(alias: &str, creator: &Value) -> Value {
    let all: Value = serde_json::from_str(SEED_SETTINGS).expect("seed_factories.json is JSON");
    let mut settings = all[alias].clone();
    settings["creator"] = creator.clone();
    settings
}

/// The factories every simulator starts with: a GitHub web factory on Warp's harness and a
/// GitLab/Azure DevOps platform factory whose agents run on Claude Code.
pub(crate) fn seeded(
    rng: &mut fastrand::Rng,
    environments: &[Environment],
    now: DateTime<Utc>,
) -> Vec<Factory> {
    let creator = json!({"uid": PRINCIPALS[0].uid, "email": PRINCIPALS[0].email});
    let web = Factory {
        uid: ids::short_id(rng),
        name: "Web App Factory",
        alias: "web",
        team_uid: TEAM_UID,
        foreman_agent: "web-foreman",
        default_model: Some("claude-4-6-sonnet"),
        default_environment: environments.first().map(|e| e.uid.clone()),
        harness: "oz",
        has_avatar: true,
        created_at: now - Duration::days(40),
        updated_at: now - Duration::days(3),
        settings: settings("web", &creator),
    };
    let platform = Factory {
        uid: ids::short_id(rng),
        name: "Platform Factory",
        alias: "platform",
        team_uid: SECOND_TEAM_UID,
        foreman_agent: "platform-foreman",
        default_model: None,
        default_environment: environments.get(1).map(|e| e.uid.clone()),
        harness: "claude",
        has_avatar: false,
        created_at: now - Duration::days(12),
        updated_at: now - Duration::hours(20),
        settings: settings("platform", &creator),
    };
    vec![web, platform]
}

impl State {
    /// A factory by uid, or 404.
    pub(crate) fn find_factory(&self, uid: &str) -> ApiResult<usize> {
        self.factories
            .iter()
            .position(|f| f.uid == uid)
            .ok_or_else(|| ApiError::not_found(format!("factory {uid} not found")))
    }

    /// One page of factories (newest first): `search` on name and alias, restricted to the team
    /// of the `team_uid` query parameter, else of the `X-Warp-Team-Uid` header.
    pub(crate) fn list_factories(
        &self,
        query: &Query,
        header_team: Option<&str>,
    ) -> ApiResult<(Vec<usize>, Value)> {
        let limit = query.int_in("limit", 1, 100, 50)? as usize;
        let page = PageRequest::new("factories", "created_at", true, limit, query.get("cursor"))?;
        let search = query.get("search").map(str::to_lowercase);
        // The SDKs send the filter as `team_uid`; `filter_team_uid` is accepted as well.
        let team = query
            .get("team_uid")
            .or_else(|| query.get("filter_team_uid"))
            .or(header_team)
            .filter(|t| !t.is_empty());
        let matching = self.factories.iter().enumerate().filter(|(_, f)| {
            team.is_none_or(|t| f.team_uid == t)
                && search.as_ref().is_none_or(|s| {
                    f.name.to_lowercase().contains(s) || f.alias.to_lowercase().contains(s)
                })
        });
        Ok(page.page(matching.map(|(i, f)| (SortKey::Time(f.created_at.timestamp_micros()), i))))
    }

    /// Dispatches a run to a factory's foreman; its task is created once the run leaves QUEUED.
    /// Returns the run's index and the ticket reference it was stamped with.
    pub(crate) fn create_factory_run(
        &mut self,
        factory: usize,
        prompt: String,
        title: Option<String>,
        ticket_ref: Option<String>,
        ticket_url: Option<String>,
        now: DateTime<Utc>,
    ) -> ApiResult<(usize, String)> {
        let ticket_ref = match ticket_ref {
            Some(r) => r,
            None => format!("adhoc:{}", &self.uuid()[..8]),
        };
        let (source, id) = ticket_ref
            .split_once(':')
            .filter(|(s, i)| !s.is_empty() && !i.is_empty())
            .ok_or_else(|| {
                ApiError::invalid_request(format!(
                    "ticket_ref must have the form <source>:<id>, got {ticket_ref:?}"
                ))
            })?;
        let mut metadata = std::collections::BTreeMap::new();
        metadata.insert("ticket_source".to_owned(), source.to_owned());
        metadata.insert("ticket_id".to_owned(), id.to_owned());
        if let Some(url) = ticket_url {
            metadata.insert("ticket_url".to_owned(), url);
        }
        let f = &self.factories[factory];
        let mut config = json!({"name": f.foreman_agent, "harness": {"type": f.harness}});
        if let Some(model) = f.default_model {
            config["model_id"] = json!(model);
        }
        if let Some(env) = &f.default_environment {
            config["environment_id"] = json!(env);
        }
        let task_title = title.clone().unwrap_or_else(|| super::title_from(&prompt));
        let new = NewRun {
            prompt,
            title,
            skill: None,
            config: Some(config),
            team: true,
            metadata,
            parent_run_id: None,
            agent_identity_uid: None,
            conversation_id: None,
            factory_uid: Some(f.uid.clone()),
            pending_task: Some(PendingTask {
                factory_uid: f.uid.clone(),
                title: task_title,
            }),
        };
        let idx = self.create_run(new, now)?;
        Ok((idx, ticket_ref))
    }
}
