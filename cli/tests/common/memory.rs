//! What a process costs in memory, read from `/proc/<pid>/status`.

/// Starts measuring a new peak: the peak resident set (`VmHWM`) is reset to the
/// current one (`echo 5 > /proc/<pid>/clear_refs`); the current one is answered.
pub fn new_peak(pid: u32) -> u64 {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
    status(pid, "VmRSS")
}

/// A figure of `/proc/<pid>/status` (`VmRSS`, `VmHWM`...), in bytes.
pub fn status(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib * 1024
}
