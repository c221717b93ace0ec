//! The programs the tests run besides `wharf`. Each is looked up on `PATH` before it
//! runs, so that a missing one fails the test at once with its name and where it
//! comes from, never later as a time-out that blames something else (`scripts/setup`
//! installs them all).

use std::process::Command;

/// A command running `program`, which must be on `PATH`; `from` says what brings it.
pub fn tool(program: &str, from: &str) -> Command {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()));
    assert!(
        found,
        "`{program}` is not installed ({from}); run ./scripts/setup, which installs it"
    );
    Command::new(program)
}
