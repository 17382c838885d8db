//! Skip notices that reach the person running the tests. libtest captures `eprintln!` of
//! passing tests, so a skipped PostgreSQL or registry half would pass silently; these notices
//! are written to the process's stderr directly, once per test binary and reason, and so show
//! up beside that binary's `test result` line.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Mutex;

static SHOWN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

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
