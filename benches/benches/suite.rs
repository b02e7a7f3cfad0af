//! The entry point of `cargo bench -p oz-bench`; the suite itself is the `oz_bench` library.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    oz_bench::run()
}
