//! `cargo xtask`: project automation.
//!
//! - `cargo xtask deps`: checks the dependency rule (every library crate depends on
//!   `ociregistry-core` and on no other crate of this workspace).
//! - `cargo xtask conformance`: runs the OCI distribution-spec conformance suite against registry
//!   stacks (see `conformance.rs`).
//! - `cargo xtask bench`: benchmarks ocisrv side by side with the Go ociregistry and CNCF
//!   Distribution, or any registry URL (see `bench.rs`).

mod bench;
mod conformance;
mod deps;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("deps") => deps::run(),
        Some("conformance") => conformance::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("help" | "--help" | "-h") | None => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown task {other:?}\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  deps          check that each library crate depends only on ociregistry-core among our crates
  conformance   run the OCI conformance suite against registry stacks (--help for options)
  bench         benchmark ocisrv against its peers, or any registry URL (--help for options)";
