//! The results as Markdown, and their place in `BENCHMARKS.md`.

use std::fmt::Write as _;
use std::path::Path;

use crate::Result;
use crate::build_cost::BuildCost;
use crate::machine::Machine;

const RESULTS_START: &str = "<!-- oz-bench:results:start -->";
const RESULTS_END: &str = "<!-- oz-bench:results:end -->";
pub(crate) const BUILD_START: &str = "<!-- oz-bench:build-cost:start -->";
pub(crate) const BUILD_END: &str = "<!-- oz-bench:build-cost:end -->";

/// A target of the suite and whether the measurement meets it.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) text: String,
    pub(crate) holds: bool,
}

impl Target {
    pub(crate) fn at_most(limit: f64, measured: f64, unit: &str) -> Target {
        Target {
            text: format!("≤ {limit}{unit}"),
            holds: measured <= limit,
        }
    }

    pub(crate) fn at_least(limit: f64, measured: f64, unit: &str) -> Target {
        Target {
            text: format!("≥ {limit}{unit}"),
            holds: measured >= limit,
        }
    }

    pub(crate) fn below(limit: f64, measured: f64, unit: &str) -> Target {
        Target {
            text: format!("< {limit}{unit}"),
            holds: measured < limit,
        }
    }
}

/// One measured figure.
#[derive(Debug, Clone)]
pub(crate) struct Figure {
    pub(crate) name: String,
    pub(crate) value: String,
    pub(crate) target: Option<Target>,
}

impl Figure {
    pub(crate) fn new(name: impl Into<String>, value: impl Into<String>) -> Figure {
        Figure {
            name: name.into(),
            value: value.into(),
            target: None,
        }
    }

    pub(crate) fn with_target(mut self, target: Target) -> Figure {
        self.target = Some(target);
        self
    }
}

/// The results of one benchmark.
#[derive(Debug, Clone)]
pub(crate) struct Section {
    pub(crate) title: String,
    pub(crate) figures: Vec<Figure>,
    /// Markdown paragraphs: how it was measured.
    pub(crate) notes: Vec<String>,
}

impl Section {
    pub(crate) fn new(title: impl Into<String>) -> Section {
        Section {
            title: title.into(),
            figures: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub(crate) fn figure(&mut self, figure: Figure) {
        self.figures.push(figure);
    }

    pub(crate) fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// A few lines for the terminal.
    pub(crate) fn summary(&self) -> String {
        let mut out = format!("  {}", self.title);
        for figure in &self.figures {
            let _ = write!(out, "\n    {}: {}", figure.name, figure.value);
            if let Some(target) = &figure.target {
                let _ = write!(out, " (target {}: {})", target.text, verdict(target.holds));
            }
        }
        out
    }
}

fn verdict(holds: bool) -> &'static str {
    if holds { "holds" } else { "missed" }
}

/// Everything one run of the suite measured.
pub(crate) struct Results {
    pub(crate) machine: Machine,
    pub(crate) started: chrono::DateTime<chrono::Utc>,
    pub(crate) finished: chrono::DateTime<chrono::Utc>,
    pub(crate) arguments: Vec<String>,
    pub(crate) sections: Vec<Section>,
    pub(crate) generated_lines: usize,
}

impl Results {
    /// The results block of `BENCHMARKS.md`, markers included.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let command = if self.arguments.is_empty() {
            crate::COMMAND.to_owned()
        } else {
            format!("{} -- {}", crate::COMMAND, self.arguments.join(" "))
        };
        let m = &self.machine;
        let _ = writeln!(out, "{RESULTS_START}");
        let _ = writeln!(
            out,
            "<!-- Written by `{}`; edit the text outside these markers only. -->\n",
            crate::COMMAND
        );
        let _ = writeln!(out, "## Results of the last run\n");
        let _ = writeln!(out, "- Command: `{command}`");
        let _ = writeln!(
            out,
            "- Date: {} (took {} s)",
            self.started.format("%Y-%m-%d %H:%M UTC"),
            (self.finished - self.started).num_seconds()
        );
        let memory = m
            .memory_gib
            .map(|g| format!(", {g:.0} GiB RAM"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "- Machine: {}, {} cores available{memory}, {}; {}",
            m.cpu, m.cores, m.os, m.rustc
        );
        if let Some(load) = &m.load_at_start {
            let _ = writeln!(
                out,
                "- Load average at the start: {load} (the machine is shared: other builds and \
                 tests ran at the same time, so absolute times are noisy; the ratios are taken \
                 side by side)"
            );
        }
        let _ = writeln!(
            out,
            "- Generated client: `oz-api/src/generated.rs`, {} lines",
            self.generated_lines
        );
        let _ = writeln!(out, "\n### Targets\n");
        let _ = writeln!(out, "| benchmark | figure | measured | target | holds |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for section in &self.sections {
            for figure in &section.figures {
                if let Some(target) = &figure.target {
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} | {} | {} |",
                        section.title,
                        figure.name,
                        figure.value,
                        target.text,
                        if target.holds { "yes" } else { "**no**" }
                    );
                }
            }
        }
        for section in &self.sections {
            let _ = writeln!(out, "\n### {}\n", section.title);
            let _ = writeln!(out, "| figure | value |");
            let _ = writeln!(out, "|---|---|");
            for figure in &section.figures {
                let _ = writeln!(out, "| {} | {} |", figure.name, figure.value);
            }
            for note in &section.notes {
                let _ = writeln!(out, "\n{note}");
            }
        }
        let _ = write!(out, "\n{RESULTS_END}");
        out
    }
}

/// Replaces the results block of the file (and the build block, when measured), keeping
/// everything else; a missing file or block is created.
pub(crate) fn update_file(path: &Path, results: &str, build: Option<&BuildCost>) -> Result<()> {
    let mut text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => "# Benchmarks\n".to_owned(),
        Err(err) => return Err(err.into()),
    };
    text = replace_block(&text, RESULTS_START, RESULTS_END, results);
    if let Some(build) = build {
        text = replace_block(&text, BUILD_START, BUILD_END, &build.render());
    }
    std::fs::write(path, text)?;
    Ok(())
}

/// `text` with the block from `start` to `end` (markers included) replaced by `block`, or with
/// `block` appended when there is no such block.
fn replace_block(text: &str, start: &str, end: &str, block: &str) -> String {
    if let Some(from) = text.find(start)
        && let Some(to) = text[from..].find(end)
    {
        let to = from + to + end.len();
        return format!("{}{block}{}", &text[..from], &text[to..]);
    }
    let mut out = text.trim_end().to_owned();
    out.push_str("\n\n");
    out.push_str(block);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_is_replaced_in_place_and_the_rest_kept() {
        let text = "# Title\n\nintro\n\n<!-- a -->\nold\n<!-- b -->\n\n## After\n";
        let out = replace_block(
            text,
            "<!-- a -->",
            "<!-- b -->",
            "<!-- a -->\nnew\n<!-- b -->",
        );
        assert_eq!(
            out,
            "# Title\n\nintro\n\n<!-- a -->\nnew\n<!-- b -->\n\n## After\n"
        );
    }

    #[test]
    fn a_missing_block_is_appended() {
        let out = replace_block(
            "# Title\n\n",
            "<!-- a -->",
            "<!-- b -->",
            "<!-- a -->x<!-- b -->",
        );
        assert_eq!(out, "# Title\n\n<!-- a -->x<!-- b -->\n");
    }

    #[test]
    fn targets_say_whether_they_hold() {
        assert!(Target::at_most(1.10, 1.02, "").holds);
        assert!(!Target::at_least(0.9, 0.85, "").holds);
        let below = Target::below(32.0, 32.0, " MiB");
        assert!(!below.holds);
        assert_eq!(below.text, "< 32 MiB");
    }

    #[test]
    fn the_results_block_names_command_machine_and_missed_targets() {
        let mut section = Section::new("Per-call overhead");
        section.figure(
            Figure::new("median latency ratio", "1.20")
                .with_target(Target::at_most(1.10, 1.20, "")),
        );
        let results = Results {
            machine: Machine::describe(),
            started: chrono::Utc::now(),
            finished: chrono::Utc::now(),
            arguments: Vec::new(),
            sections: vec![section],
            generated_lines: 1234,
        };
        let text = results.render();
        assert!(text.starts_with(RESULTS_START) && text.ends_with(RESULTS_END));
        assert!(text.contains("Command: `cargo bench -p oz-bench`"));
        assert!(
            text.contains("| Per-call overhead | median latency ratio | 1.20 | ≤ 1.1 | **no** |")
        );
        assert!(text.contains("1234 lines"));
    }
}
