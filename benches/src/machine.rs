//! What the benchmarks ran on.

use std::process::Command;

/// Processor, cores, memory, kernel, compiler and load of the machine.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    pub(crate) cpu: String,
    pub(crate) cores: usize,
    pub(crate) memory_gib: Option<f64>,
    pub(crate) os: String,
    pub(crate) rustc: String,
    pub(crate) load_at_start: Option<String>,
}

impl Machine {
    pub(crate) fn describe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map(|(_, name)| name.trim().to_owned())
            .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
        let memory_gib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            })
            .map(|kib| kib / (1024.0 * 1024.0));
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|k| format!(" {}", k.trim()))
            .unwrap_or_default();
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
        let rustc = Command::new(rustc)
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|| "rustc (version unknown)".to_owned());
        let load_at_start = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            memory_gib,
            os: format!("{}{kernel}", std::env::consts::OS),
            rustc,
            load_at_start,
        }
    }

    /// One line, e.g. for the start of the run.
    pub(crate) fn summary(&self) -> String {
        let memory = self
            .memory_gib
            .map(|g| format!(", {g:.0} GiB RAM"))
            .unwrap_or_default();
        let load = self
            .load_at_start
            .as_ref()
            .map(|l| format!("; load average at start {l}"))
            .unwrap_or_default();
        format!(
            "{} ({} cores available{memory}), {}, {}{load}",
            self.cpu, self.cores, self.os, self.rustc
        )
    }
}
