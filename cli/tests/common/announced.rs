//! Starting a `wharf` process that announces where it listens on its first line of
//! standard output (`wharf serve`, `wharf run --http`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// Spawns `command` (standard error discarded) and returns it with the first line
/// it printed, trimmed.
pub fn spawn_announced(command: &mut Command) -> (Child, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line.trim().to_owned())
}
