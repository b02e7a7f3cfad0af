//! Factory tasks: the unit of work of a factory, bound to an agent conversation. A
//! conversation is bound to at most one live task across all factories; deleted tasks are kept
//! (soft delete) but never shown.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::cursor::{PageRequest, SortKey};
use super::render::{artifact_item, principal_json};
use super::{ArtifactKind, PRINCIPALS, PendingTask, Phase, State};
use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::query::Query;

/// Lifecycle stage of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Triage,
    Spec,
    Implement,
    Review,
    Complete,
    Cancelled,
}

impl Stage {
    pub(crate) const ALL: [&'static str; 6] = [
        "TRIAGE",
        "SPEC",
        "IMPLEMENT",
        "REVIEW",
        "COMPLETE",
        "CANCELLED",
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Stage::Triage => "TRIAGE",
            Stage::Spec => "SPEC",
            Stage::Implement => "IMPLEMENT",
            Stage::Review => "REVIEW",
            Stage::Complete => "COMPLETE",
            Stage::Cancelled => "CANCELLED",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Stage> {
        Some(match text {
            "TRIAGE" => Stage::Triage,
            "SPEC" => Stage::Spec,
            "IMPLEMENT" => Stage::Implement,
            "REVIEW" => Stage::Review,
            "COMPLETE" => Stage::Complete,
            "CANCELLED" => Stage::Cancelled,
            _ => return None,
        })
    }

    /// A live task holds its conversation: every stage but COMPLETE and CANCELLED.
    pub(crate) fn is_live(self) -> bool {
        !matches!(self, Stage::Complete | Stage::Cancelled)
    }
}

/// One task.
pub(crate) struct Task {
    pub(crate) uid: String,
    pub(crate) factory_uid: String,
    pub(crate) conversation_id: String,
    /// The conversation's newest run when the task was created (never updated).
    pub(crate) run_id: String,
    pub(crate) title: String,
    pub(crate) description: Option<String>,
    pub(crate) stage: Stage,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) deleted_at: Option<DateTime<Utc>>,
}

/// The changes of a partial update; `description: Some(None)` clears it.
pub(crate) struct TaskUpdate {
    pub(crate) title: Option<String>,
    pub(crate) description: Option<Option<String>>,
    pub(crate) stage: Option<Stage>,
}

/// Which optional parts a rendered task carries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TaskView {
    pub(crate) current_run: bool,
    pub(crate) outputs: Outputs,
    pub(crate) ticket: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outputs {
    None,
    /// From the runs bound to the conversation (lists with `full_list=true`).
    Conversation,
    /// From the whole run tree: the conversation's runs and every run dispatched under them.
    Tree,
}

impl TaskView {
    /// What single-task reads (and writes) answer with.
    pub(crate) const DETAIL: TaskView = TaskView {
        current_run: true,
        outputs: Outputs::Tree,
        ticket: true,
    };
}

/// A parsed `list_factory_tasks` query.
pub(crate) struct TaskListRequest {
    page: PageRequest,
    stages: Vec<Stage>,
    q: Option<String>,
    created_by: Vec<String>,
    created_after: Option<DateTime<Utc>>,
    created_before: Option<DateTime<Utc>>,
    updated_after: Option<DateTime<Utc>>,
    pub(crate) view: TaskView,
}

impl TaskListRequest {
    pub(crate) fn parse(query: &Query) -> ApiResult<TaskListRequest> {
        let limit = query.int_in("limit", 1, 100, 50)? as usize;
        let sort_by = query
            .one_of("sort_by", &["created_at", "updated_at"])?
            .unwrap_or("updated_at");
        let descending = query
            .one_of("sort_order", &["asc", "desc"])?
            .unwrap_or("desc")
            == "desc";
        let full_list = query.bool("full_list")?.unwrap_or(false);
        Ok(TaskListRequest {
            page: PageRequest::new("tasks", sort_by, descending, limit, query.get("cursor"))?,
            stages: query
                .all_of("stage", &Stage::ALL)?
                .into_iter()
                .filter_map(Stage::parse)
                .collect(),
            q: query
                .get("q")
                .filter(|q| !q.is_empty())
                .map(str::to_lowercase),
            created_by: query
                .all("created_by")
                .into_iter()
                .flat_map(|v| v.split(','))
                .filter(|v| !v.is_empty())
                .map(str::to_lowercase)
                .collect(),
            created_after: query.date_time("created_after")?,
            created_before: query.date_time("created_before")?,
            updated_after: query.date_time("updated_after")?,
            view: TaskView {
                current_run: query.bool("include_current_run")?.unwrap_or(false),
                outputs: if full_list {
                    Outputs::Conversation
                } else {
                    Outputs::None
                },
                ticket: full_list,
            },
        })
    }
}

impl State {
    /// A task of a factory that has not been deleted, or 404.
    pub(crate) fn find_task(&self, factory_uid: &str, task_uid: &str) -> ApiResult<usize> {
        self.tasks
            .iter()
            .position(|t| {
                t.uid == task_uid && t.factory_uid == factory_uid && t.deleted_at.is_none()
            })
            .ok_or_else(|| ApiError::not_found(format!("task {task_uid} not found")))
    }

    /// The live task a conversation is bound to, in any factory.
    fn live_task_on(&self, conversation_id: &str) -> Option<usize> {
        self.tasks.iter().position(|t| {
            t.conversation_id == conversation_id && t.deleted_at.is_none() && t.stage.is_live()
        })
    }

    /// The task of `factory_uid` bound to a conversation: the live one, else the newest.
    fn task_on(&self, factory_uid: &str, conversation_id: &str) -> Option<usize> {
        let bound = |t: &Task| {
            t.factory_uid == factory_uid
                && t.conversation_id == conversation_id
                && t.deleted_at.is_none()
        };
        self.tasks
            .iter()
            .position(|t| bound(t) && t.stage.is_live())
            .or_else(|| self.tasks.iter().rposition(bound))
    }

    /// The author of the run a task was created from, as a principal index.
    fn author_of(&self, task: &Task) -> Option<usize> {
        self.run_index
            .get(&task.run_id)
            .map(|&i| self.runs[i].creator)
    }

    /// The task's current top-level run: the root of its conversation's newest run.
    pub(crate) fn current_run_of(&self, task: &Task) -> Option<usize> {
        self.run_by_conversation(&task.conversation_id)
            .map(|i| self.root_of(i))
    }

    /// Binds a new task to a conversation whose newest run exists and which has no live task.
    pub(crate) fn create_task(
        &mut self,
        factory: usize,
        conversation_id: &str,
        title: String,
        description: Option<String>,
        stage: Stage,
        now: DateTime<Utc>,
    ) -> ApiResult<usize> {
        let run = self.run_by_conversation(conversation_id).ok_or_else(|| {
            ApiError::not_found(format!("conversation {conversation_id} not found"))
        })?;
        if let Some(existing) = self.live_task_on(conversation_id) {
            return Err(ApiError::conflict(format!(
                "conversation {conversation_id} is already bound to the live task {}",
                self.tasks[existing].uid
            ))
            .not_retryable());
        }
        let task = Task {
            uid: self.uuid(),
            factory_uid: self.factories[factory].uid.clone(),
            conversation_id: conversation_id.to_owned(),
            run_id: self.runs[run].id.clone(),
            title,
            description,
            stage,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        self.tasks.push(task);
        Ok(self.tasks.len() - 1)
    }

    /// Creates the task a factory run was promised, now that the run has left QUEUED.
    pub(crate) fn create_pending_task(
        &mut self,
        run: usize,
        pending: PendingTask,
        at: DateTime<Utc>,
    ) {
        let Some(conversation_id) = self.runs[run].conversation_id.clone() else {
            return;
        };
        if self.live_task_on(&conversation_id).is_some() {
            return;
        }
        let stage = if self.runs[run].phase == Phase::Cancelled {
            Stage::Cancelled
        } else {
            Stage::Triage
        };
        let task = Task {
            uid: self.uuid(),
            factory_uid: pending.factory_uid,
            conversation_id,
            run_id: self.runs[run].id.clone(),
            title: pending.title,
            description: None,
            stage,
            created_at: at,
            updated_at: at,
            deleted_at: None,
        };
        self.tasks.push(task);
    }

    /// A cancelled top-level run moves the live task it is the current run of to CANCELLED.
    pub(crate) fn cancel_tasks_of_root(&mut self, run: usize, at: DateTime<Utc>) {
        if self.runs[run].parent_run_id.is_some() {
            return;
        }
        let Some(conversation_id) = self.runs[run].conversation_id.clone() else {
            return;
        };
        let Some(task) = self.live_task_on(&conversation_id) else {
            return;
        };
        if self.current_run_of(&self.tasks[task]) == Some(run) {
            self.tasks[task].stage = Stage::Cancelled;
            self.tasks[task].updated_at = at;
        }
    }

    /// Last write wins; any stage may follow any stage, except that a conversation holds at
    /// most one live task: moving a task back to a live stage while another task is live on
    /// its conversation is a conflict, and nothing changes.
    pub(crate) fn update_task(
        &mut self,
        task: usize,
        update: TaskUpdate,
        now: DateTime<Utc>,
    ) -> ApiResult<()> {
        if update.stage.is_some_and(Stage::is_live)
            && let Some(live) = self.live_task_on(&self.tasks[task].conversation_id)
            && live != task
        {
            return Err(ApiError::conflict(format!(
                "conversation {} is already bound to the live task {}",
                self.tasks[task].conversation_id, self.tasks[live].uid
            ))
            .not_retryable());
        }
        let t = &mut self.tasks[task];
        if let Some(title) = update.title {
            t.title = title;
        }
        if let Some(description) = update.description {
            t.description = description.filter(|d| !d.is_empty());
        }
        if let Some(stage) = update.stage {
            t.stage = stage;
        }
        t.updated_at = now;
        Ok(())
    }

    pub(crate) fn delete_task(&mut self, task: usize, now: DateTime<Utc>) {
        self.tasks[task].deleted_at = Some(now);
        self.tasks[task].updated_at = now;
    }

    /// Cancels the task's current top-level run and every non-terminal run under it, and moves
    /// the task to CANCELLED. A COMPLETE or CANCELLED task is a conflict.
    pub(crate) fn cancel_task(&mut self, task: usize, now: DateTime<Utc>) -> ApiResult<()> {
        let stage = self.tasks[task].stage;
        if !stage.is_live() {
            return Err(ApiError::conflict(format!(
                "task {} is already {}",
                self.tasks[task].uid,
                stage.as_str()
            ))
            .not_retryable());
        }
        if let Some(root) = self.current_run_of(&self.tasks[task]) {
            let mut tree = vec![root];
            tree.extend(self.subtree(root));
            for idx in tree {
                self.catch_up(idx, now);
                let run = &self.runs[idx];
                if !run.phase.is_terminal() && run.is_cancellable_kind() {
                    self.enter(idx, Phase::Cancelled, now);
                }
            }
        }
        self.tasks[task].stage = Stage::Cancelled;
        self.tasks[task].updated_at = now;
        Ok(())
    }

    /// The task that owns a run: the one bound to the conversation of the run's root ancestor.
    pub(crate) fn task_by_run(&self, factory_uid: &str, run_id: &str) -> ApiResult<usize> {
        let idx = self.find_run(run_id)?;
        let root = self.root_of(idx);
        self.runs[root]
            .conversation_id
            .as_deref()
            .and_then(|c| self.task_on(factory_uid, c))
            .ok_or_else(|| {
                ApiError::not_found(format!("no task of this factory owns run {run_id}"))
            })
    }

    pub(crate) fn task_by_conversation(
        &self,
        factory_uid: &str,
        conversation_id: &str,
    ) -> ApiResult<usize> {
        self.task_on(factory_uid, conversation_id).ok_or_else(|| {
            ApiError::not_found(format!(
                "no task of this factory is bound to conversation {conversation_id}"
            ))
        })
    }

    /// Lets the runs behind a factory's tasks catch up (a read of them), so that promised tasks
    /// appear and current runs show their state.
    pub(crate) fn observe_factory(&mut self, factory_uid: &str, now: DateTime<Utc>) {
        for idx in 0..self.runs.len() {
            let run = &self.runs[idx];
            if run.factory_uid.as_deref() == Some(factory_uid) || run.pending_task.is_some() {
                self.observe(idx, now);
            }
        }
    }

    /// One page of a factory's tasks.
    pub(crate) fn list_tasks(
        &self,
        factory_uid: &str,
        req: &TaskListRequest,
    ) -> (Vec<usize>, Value) {
        let matching = self.tasks.iter().enumerate().filter(|(_, t)| {
            t.factory_uid == factory_uid
                && t.deleted_at.is_none()
                && (req.stages.is_empty() || req.stages.contains(&t.stage))
                && req
                    .q
                    .as_ref()
                    .is_none_or(|q| t.title.to_lowercase().contains(q))
                && req.created_after.is_none_or(|a| t.created_at > a)
                && req.created_before.is_none_or(|b| t.created_at < b)
                && req.updated_after.is_none_or(|a| t.updated_at > a)
                && (req.created_by.is_empty()
                    || self
                        .author_of(t)
                        .and_then(|p| PRINCIPALS[p % PRINCIPALS.len()].email)
                        .is_some_and(|email| req.created_by.iter().any(|e| e == email)))
        });
        let keyed = matching.map(|(i, t)| {
            let at = if req.page.sort_by == "created_at" {
                t.created_at
            } else {
                t.updated_at
            };
            (SortKey::Time(at.timestamp_micros()), i)
        });
        req.page.page(keyed)
    }

    /// The `Task` body.
    pub(crate) fn task_json(&self, task: usize, view: TaskView) -> Value {
        let t = &self.tasks[task];
        let mut v = json!({
            "uid": t.uid,
            "factory_uid": t.factory_uid,
            "conversation_id": t.conversation_id,
            "run_id": t.run_id,
            "title": t.title,
            "stage": t.stage.as_str(),
            "created_at": rfc3339(t.created_at),
            "updated_at": rfc3339(t.updated_at),
        });
        if let Some(description) = &t.description {
            v["description"] = json!(description);
        }
        if let Some(author) = self.author_of(t) {
            v["author"] = principal_json(author);
        }
        if view.current_run
            && let Some(root) = self.current_run_of(t)
        {
            let run = &self.runs[root];
            v["current_run"] = json!({
                "run_id": run.id,
                "state": run.phase.as_str(),
                "is_run_type_cancellable": run.is_cancellable_kind(),
            });
        }
        if view.ticket
            && let Some(&seed) = self.run_index.get(&t.run_id)
        {
            let metadata = &self.runs[seed].metadata;
            if let (Some(source), Some(id)) =
                (metadata.get("ticket_source"), metadata.get("ticket_id"))
            {
                v["ticket_source"] = json!(source);
                v["ticket_id"] = json!(id);
            }
        }
        if view.outputs != Outputs::None {
            v["outputs"] = Value::Array(self.outputs_of(t, view.outputs == Outputs::Tree));
        }
        v
    }

    /// PULL_REQUEST, EXTERNAL_REFERENCE, SCREENSHOT and FILE artifacts, newest first.
    fn outputs_of(&self, task: &Task, whole_tree: bool) -> Vec<Value> {
        let mut runs: Vec<usize> = self
            .runs
            .iter()
            .enumerate()
            .filter(|(_, r)| r.conversation_id.as_deref() == Some(task.conversation_id.as_str()))
            .map(|(i, _)| i)
            .collect();
        if whole_tree {
            let under: Vec<usize> = runs.iter().flat_map(|&r| self.subtree(r)).collect();
            runs.extend(under);
            runs.sort_unstable();
            runs.dedup();
        }
        let mut artifacts: Vec<(DateTime<Utc>, Value)> = runs
            .iter()
            .flat_map(|&i| {
                let run = &self.runs[i];
                run.artifacts
                    .iter()
                    .filter(|a| a.kind != ArtifactKind::Plan)
                    .map(move |a| (a.created_at, artifact_item(run, a)))
            })
            .collect();
        artifacts.sort_by_key(|a| std::cmp::Reverse(a.0));
        artifacts.into_iter().map(|(_, v)| v).collect()
    }
}
