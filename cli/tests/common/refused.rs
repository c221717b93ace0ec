//! A `wharf` that must refuse to start: it exits non-zero, within a minute, and says why.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `command` (a `wharf` that should refuse to start), which must exit within a
/// minute; a server that starts instead is killed and fails the test.
pub fn refused_start(mut command: Command) -> String {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
            assert!(!status.success(), "{stderr}");
            return stderr;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("it started instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
