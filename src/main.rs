//! The `gatehouse` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

// The review path allocates many small, short-lived values (JSON trees, Cedar entities); under
// load glibc malloc took about a sixth of the gateway's CPU (BENCHMARKS.md, issue 12).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    gatehouse::cli::main().await
}
