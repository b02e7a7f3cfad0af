//! Runs: their states, scripts read from the prompt, and how they advance.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// How runs created through the API advance through their states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Progression {
    /// Each read (get, list, events, ...) observes the run; the first read after creation finds
    /// it terminal (`[slow]` runs advance one state per read).
    Instant,
    /// QUEUED 0.5 s, PENDING 0.5 s, CLAIMED 1 s, INPROGRESS 2 s, then terminal (ten times longer
    /// with `[slow]`), measured with tokio's clock.
    Realistic,
    /// Each of QUEUED, PENDING, CLAIMED and INPROGRESS lasts this long (tokio's clock).
    Stepped(Duration),
}

impl Progression {
    fn durations(self) -> Option<[Duration; 4]> {
        match self {
            Progression::Instant => None,
            Progression::Realistic => Some([
                Duration::from_millis(500),
                Duration::from_millis(500),
                Duration::from_secs(1),
                Duration::from_secs(2),
            ]),
            Progression::Stepped(step) => Some([step; 4]),
        }
    }
}

/// A run's state as the API names it (`RunState` of openapi.json), for
/// [`OzMock::run_state`](crate::OzMock::run_state) and
/// [`OzMock::set_run_state`](crate::OzMock::set_run_state).
///
/// ```
/// use oz_mock::RunState;
///
/// assert_eq!(RunState::Inprogress.as_str(), "INPROGRESS");
/// assert_eq!("BLOCKED".parse::<RunState>(), Ok(RunState::Blocked));
/// assert!(RunState::Blocked.is_terminal() && !RunState::Claimed.is_terminal());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunState {
    /// `QUEUED`
    Queued,
    /// `PENDING`
    Pending,
    /// `CLAIMED`
    Claimed,
    /// `INPROGRESS`
    Inprogress,
    /// `SUCCEEDED`
    Succeeded,
    /// `FAILED`
    Failed,
    /// `BLOCKED`: waits for user input; ended as far as cancelling and waiting go.
    Blocked,
    /// `ERROR`
    Error,
    /// `CANCELLED`
    Cancelled,
}

impl RunState {
    /// Every state, in the order a run goes through them (terminal ones last).
    pub const ALL: [RunState; 9] = [
        RunState::Queued,
        RunState::Pending,
        RunState::Claimed,
        RunState::Inprogress,
        RunState::Succeeded,
        RunState::Failed,
        RunState::Blocked,
        RunState::Error,
        RunState::Cancelled,
    ];

    /// The wire name, e.g. `"INPROGRESS"`.
    pub fn as_str(self) -> &'static str {
        Phase::from_run_state(self).as_str()
    }

    /// Whether the run has ended (BLOCKED included).
    pub fn is_terminal(self) -> bool {
        Phase::from_run_state(self).is_terminal()
    }
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of openapi.json's `RunState` values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownRunState(pub String);

impl std::fmt::Display for UnknownRunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown run state {:?}", self.0)
    }
}

impl std::error::Error for UnknownRunState {}

impl std::str::FromStr for RunState {
    type Err = UnknownRunState;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Phase::parse(text)
            .map(Phase::to_run_state)
            .ok_or_else(|| UnknownRunState(text.to_owned()))
    }
}

/// A run's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Phase {
    Queued,
    Pending,
    Claimed,
    InProgress,
    Succeeded,
    Failed,
    Blocked,
    Error,
    Cancelled,
}

impl Phase {
    pub(crate) const ALL: [&'static str; 9] = [
        "QUEUED",
        "PENDING",
        "CLAIMED",
        "INPROGRESS",
        "SUCCEEDED",
        "FAILED",
        "BLOCKED",
        "ERROR",
        "CANCELLED",
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Phase::Queued => "QUEUED",
            Phase::Pending => "PENDING",
            Phase::Claimed => "CLAIMED",
            Phase::InProgress => "INPROGRESS",
            Phase::Succeeded => "SUCCEEDED",
            Phase::Failed => "FAILED",
            Phase::Blocked => "BLOCKED",
            Phase::Error => "ERROR",
            Phase::Cancelled => "CANCELLED",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Phase> {
        Some(match text {
            "QUEUED" => Phase::Queued,
            "PENDING" => Phase::Pending,
            "CLAIMED" => Phase::Claimed,
            "INPROGRESS" => Phase::InProgress,
            "SUCCEEDED" => Phase::Succeeded,
            "FAILED" => Phase::Failed,
            "BLOCKED" => Phase::Blocked,
            "ERROR" => Phase::Error,
            "CANCELLED" => Phase::Cancelled,
            _ => return None,
        })
    }

    pub(crate) fn to_run_state(self) -> RunState {
        match self {
            Phase::Queued => RunState::Queued,
            Phase::Pending => RunState::Pending,
            Phase::Claimed => RunState::Claimed,
            Phase::InProgress => RunState::Inprogress,
            Phase::Succeeded => RunState::Succeeded,
            Phase::Failed => RunState::Failed,
            Phase::Blocked => RunState::Blocked,
            Phase::Error => RunState::Error,
            Phase::Cancelled => RunState::Cancelled,
        }
    }

    pub(crate) fn from_run_state(state: RunState) -> Phase {
        match state {
            RunState::Queued => Phase::Queued,
            RunState::Pending => Phase::Pending,
            RunState::Claimed => Phase::Claimed,
            RunState::Inprogress => Phase::InProgress,
            RunState::Succeeded => Phase::Succeeded,
            RunState::Failed => Phase::Failed,
            RunState::Blocked => Phase::Blocked,
            RunState::Error => Phase::Error,
            RunState::Cancelled => Phase::Cancelled,
        }
    }

    /// Terminal for cancellation and waiting: BLOCKED counts as ended.
    pub(crate) fn is_terminal(self) -> bool {
        matches!(
            self,
            Phase::Succeeded | Phase::Failed | Phase::Blocked | Phase::Error | Phase::Cancelled
        )
    }

    /// Position on the way QUEUED → PENDING → CLAIMED → INPROGRESS → terminal.
    pub(crate) fn step(self) -> usize {
        match self {
            Phase::Queued => 0,
            Phase::Pending => 1,
            Phase::Claimed => 2,
            Phase::InProgress => 3,
            _ => 4,
        }
    }

    /// The states a run enters to get from `self` to `to`, `to` last (empty when they are
    /// the same). Forward moves follow QUEUED → PENDING → CLAIMED → INPROGRESS → terminal, the
    /// way a run advances on its own; CANCELLED is entered directly from any state, as a
    /// cancellation does; a move back, or away from an ended state, is one transition.
    pub(crate) fn path(self, to: Phase) -> Vec<Phase> {
        const WAY: [Phase; 4] = [
            Phase::Queued,
            Phase::Pending,
            Phase::Claimed,
            Phase::InProgress,
        ];
        if self == to {
            return Vec::new();
        }
        if to == Phase::Cancelled || self.is_terminal() || to.step() <= self.step() {
            return vec![to];
        }
        let mut path: Vec<Phase> = WAY[self.step() + 1..to.step().min(WAY.len())].to_vec();
        path.push(to);
        path
    }

    /// Event kind a transition into this state emits, if any.
    pub(crate) fn event_type(self) -> Option<&'static str> {
        Some(match self {
            Phase::InProgress => "run_in_progress",
            Phase::Succeeded => "run_succeeded",
            Phase::Failed => "run_failed",
            Phase::Error => "run_errored",
            Phase::Blocked => "run_blocked",
            Phase::Cancelled => "run_cancelled",
            Phase::Queued | Phase::Pending | Phase::Claimed => return None,
        })
    }
}

/// What a prompt's markers ask of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Script {
    pub(crate) outcome: Option<Phase>,
    pub(crate) slow: bool,
    pub(crate) transcript_size: Option<usize>,
    pub(crate) local: bool,
    pub(crate) file: bool,
    pub(crate) screenshot: bool,
    pub(crate) external: bool,
}

impl Script {
    pub(crate) fn parse(prompt: &str) -> Script {
        let lower = prompt.to_ascii_lowercase();
        let outcome = if lower.contains("[fail]") {
            Some(Phase::Failed)
        } else if lower.contains("[error]") {
            Some(Phase::Error)
        } else if lower.contains("[block]") {
            Some(Phase::Blocked)
        } else {
            None
        };
        Script {
            outcome,
            slow: lower.contains("[slow]"),
            transcript_size: transcript_marker(&lower),
            local: lower.contains("[local]"),
            file: lower.contains("[file]"),
            screenshot: lower.contains("[screenshot]"),
            external: lower.contains("[external]"),
        }
    }

    pub(crate) fn final_phase(&self) -> Phase {
        self.outcome.unwrap_or(Phase::Succeeded)
    }
}

/// `[transcript:5MB]`, `[transcript:300KB]`, `[transcript:1000]`.
fn transcript_marker(lower: &str) -> Option<usize> {
    let start = lower.find("[transcript:")? + "[transcript:".len();
    let end = start + lower[start..].find(']')?;
    let spec = lower[start..end].trim();
    let (digits, unit) = match spec.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => spec.split_at(i),
        None => (spec, ""),
    };
    let n: usize = digits.parse().ok()?;
    let factor = match unit.trim() {
        "" | "b" => 1,
        "kb" | "k" => 1024,
        "mb" | "m" => 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// How a run moves on.
#[derive(Debug, Clone)]
pub(crate) enum Progress {
    /// Does not move (seeded runs, runs set by hand, ended runs).
    Frozen,
    /// Moves as reads observe it.
    Reads { reads: u32 },
    /// Moves with time since `origin`.
    Timed {
        origin: tokio::time::Instant,
        origin_wall: DateTime<Utc>,
        durations: [Duration; 4],
    },
}

impl Progress {
    pub(crate) fn start(
        progression: Progression,
        slow: bool,
        origin_wall: DateTime<Utc>,
    ) -> Progress {
        match progression.durations() {
            None => Progress::Reads { reads: 0 },
            Some(mut durations) => {
                if slow {
                    for d in &mut durations {
                        *d *= 10;
                    }
                }
                Progress::Timed {
                    origin: tokio::time::Instant::now(),
                    origin_wall,
                    durations,
                }
            }
        }
    }
}

/// Kinds of artifacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArtifactKind {
    Plan,
    PullRequest,
    Screenshot,
    File,
    ExternalReference,
}

impl ArtifactKind {
    pub(crate) const ALL: [&'static str; 5] = [
        "PLAN",
        "PULL_REQUEST",
        "SCREENSHOT",
        "FILE",
        "EXTERNAL_REFERENCE",
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Plan => "PLAN",
            ArtifactKind::PullRequest => "PULL_REQUEST",
            ArtifactKind::Screenshot => "SCREENSHOT",
            ArtifactKind::File => "FILE",
            ArtifactKind::ExternalReference => "EXTERNAL_REFERENCE",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Artifact {
    pub(crate) uid: String,
    pub(crate) kind: ArtifactKind,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) title: String,
    pub(crate) url: String,
    /// Status of a PULL_REQUEST (`open`, `draft`, `merged`, `closed`); unused by other kinds.
    pub(crate) pr_status: &'static str,
}

#[derive(Debug, Clone)]
pub(crate) struct StatusMessage {
    pub(crate) message: String,
    pub(crate) error_code: Option<&'static str>,
    pub(crate) retryable: Option<bool>,
}

#[derive(Debug, Clone)]
pub(crate) struct ScheduleRef {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) cron: String,
}

/// One run.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) prompt: String,
    pub(crate) script: Script,
    pub(crate) phase: Phase,
    pub(crate) progress: Progress,
    pub(crate) seeded: bool,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) started_at: Option<DateTime<Utc>>,
    pub(crate) ended_at: Option<DateTime<Utc>>,
    pub(crate) source: &'static str,
    pub(crate) execution_location: &'static str,
    pub(crate) creator: usize,
    pub(crate) team: bool,
    pub(crate) config: Option<serde_json::Value>,
    pub(crate) model_id: Option<String>,
    pub(crate) config_name: Option<String>,
    pub(crate) environment_id: Option<String>,
    pub(crate) harness: Option<String>,
    pub(crate) skill: Option<String>,
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) parent_run_id: Option<String>,
    pub(crate) children: Vec<String>,
    pub(crate) schedule: Option<ScheduleRef>,
    pub(crate) conversation_id: Option<String>,
    pub(crate) session_id: Option<String>,
    pub(crate) artifacts: Vec<Artifact>,
    pub(crate) status_message: Option<StatusMessage>,
    pub(crate) execution_id: i64,
    pub(crate) transitions: Vec<(Phase, DateTime<Utc>, i64)>,
    pub(crate) last_event_sequence: Option<i64>,
    pub(crate) followups: Vec<String>,
    pub(crate) scores: Vec<serde_json::Value>,
    /// The prompt as submitted plus the follow-ups sent before the run started.
    pub(crate) submitted_prompt: String,
    /// The factory whose agent executes the run.
    pub(crate) factory_uid: Option<String>,
    /// A factory task still to be created for this run once it leaves QUEUED.
    pub(crate) pending_task: Option<PendingTask>,
}

/// The factory task `create_factory_run` promises: created asynchronously, once the run has
/// left QUEUED.
#[derive(Debug, Clone)]
pub(crate) struct PendingTask {
    pub(crate) factory_uid: String,
    pub(crate) title: String,
}

impl Run {
    /// Whether the run executes on Warp's own harness (`oz`, or no harness given).
    pub(crate) fn on_warp_harness(&self) -> bool {
        self.harness
            .as_deref()
            .is_none_or(|h| h.is_empty() || h == "oz")
    }

    /// Whether the API may cancel this kind of run (not local or GitHub Action runs).
    pub(crate) fn is_cancellable_kind(&self) -> bool {
        self.execution_location != "LOCAL" && self.source != "GITHUB_ACTION"
    }

    /// When the run's next state is due, for a run that moves with time: the instant
    /// [`due_steps`](Self::due_steps) first finds it there.
    pub(crate) fn next_transition(&self) -> Option<tokio::time::Instant> {
        let Progress::Timed {
            origin, durations, ..
        } = &self.progress
        else {
            return None;
        };
        if self.phase.is_terminal() {
            return None;
        }
        let reached = self.phase.step() + 1;
        let offset: Duration = durations.get(..reached)?.iter().sum();
        Some(*origin + offset)
    }

    /// The steps the run is due to take now, with the wall time each was reached. A `read`
    /// moves runs that advance per read; time-based runs catch up either way.
    pub(crate) fn due_steps(
        &mut self,
        now_wall: DateTime<Utc>,
        read: bool,
    ) -> Vec<(Phase, DateTime<Utc>)> {
        let current = self.phase.step();
        if self.phase.is_terminal() {
            return Vec::new();
        }
        let final_phase = self.script.final_phase();
        let phase_at = |step: usize| match step {
            0 => Phase::Queued,
            1 => Phase::Pending,
            2 => Phase::Claimed,
            3 => Phase::InProgress,
            _ => final_phase,
        };
        match &mut self.progress {
            Progress::Frozen | Progress::Reads { .. } if !read => Vec::new(),
            Progress::Frozen => Vec::new(),
            Progress::Reads { reads } => {
                *reads += 1;
                let target = if self.script.slow {
                    (current + 1).min(4)
                } else {
                    4
                };
                ((current + 1)..=target)
                    .map(|s| (phase_at(s), now_wall))
                    .collect()
            }
            Progress::Timed {
                origin,
                origin_wall,
                durations,
            } => {
                let elapsed = tokio::time::Instant::now().saturating_duration_since(*origin);
                let mut offset = Duration::ZERO;
                let mut steps = Vec::new();
                for (i, d) in durations.iter().enumerate() {
                    offset += *d;
                    let step = i + 1;
                    if offset > elapsed {
                        break;
                    }
                    if step > current {
                        let at =
                            *origin_wall + chrono::Duration::from_std(offset).unwrap_or_default();
                        steps.push((phase_at(step), at));
                    }
                }
                steps
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Phase;

    #[test]
    fn forced_moves_take_the_way_a_run_takes_on_its_own() {
        use Phase::*;
        assert_eq!(
            Queued.path(Succeeded),
            [Pending, Claimed, InProgress, Succeeded]
        );
        assert_eq!(Pending.path(Failed), [Claimed, InProgress, Failed]);
        assert_eq!(Queued.path(Claimed), [Pending, Claimed]);
        assert_eq!(InProgress.path(Blocked), [Blocked]);
        assert_eq!(Queued.path(Cancelled), [Cancelled]);
        assert_eq!(Claimed.path(Cancelled), [Cancelled]);
        assert_eq!(InProgress.path(Pending), [Pending]);
        assert_eq!(Succeeded.path(InProgress), [InProgress]);
        assert_eq!(Blocked.path(Succeeded), [Succeeded]);
        assert!(Error.path(Error).is_empty());
    }
}
