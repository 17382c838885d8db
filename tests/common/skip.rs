//! Skip notices that reach the person running the tests. libtest captures `eprintln!` of
//! passing tests, so a skipped PostgreSQL or registry half would pass silently; these notices
//! are written to the process's stderr directly, once per test binary and reason, and so show
//! up beside that binary's `test result` line.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Mutex;

static SHOWN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Whether the tests run under CI (`CI=true`), where nothing may be skipped.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Something the tests need is missing (`what`, e.g. "PostgreSQL is unreachable"). Under
/// `CI=true` that fails the calling test, since `.ci/run` installs and starts everything;
/// elsewhere `skipped` (the tests that needed it) are reported as not run.
pub fn missing(what: &str, skipped: &str) {
    assert!(!under_ci(), "CI=true but {what} (see .ci/run)");
    notice(&format!("{what}; {skipped} did not run"));
}

/// Tells the runner that part of this binary's tests was skipped, and why.
pub fn notice(reason: &str) {
    let first = SHOWN
        .lock()
        .map(|mut shown| shown.insert(reason.to_owned()))
        .unwrap_or(true);
    if first {
        let binary = std::env::args().next().unwrap_or_default();
        let file = binary.rsplit('/').next().unwrap_or("");
        // Cargo names test binaries `<target>-<hash>`.
        let binary = file.rsplit_once('-').map_or(file, |(name, _)| name);
        // Straight to the file descriptor: not captured by the test harness.
        let _ = writeln!(std::io::stderr(), "SKIPPED in {binary}: {reason}");
    }
}
