//! Progress bars for long work, drawn on stderr only when it is a terminal: piped or
//! redirected output stays free of them, as with cargo. `NO_COLOR` turns their
//! colours off.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

fn target() -> ProgressDrawTarget {
    if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

fn colour(template: &str) -> String {
    if crate::output::colour_enabled() {
        template.to_owned()
    } else {
        // indicatif's `{bar:40.cyan/blue}` styles become plain `{bar:40}`.
        template
            .replace(".cyan/blue", "")
            .replace(".green", "")
            .replace(".cyan", "")
    }
}

/// A bar counting bytes, for a transfer of `len` bytes (a spinner when unknown).
pub fn bytes(len: Option<u64>, verb: &str, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(len, target());
    let template = if len.is_some() {
        "{prefix:>12.green} {msg} [{bar:30.cyan/blue}] {bytes}/{total_bytes} {bytes_per_sec} {eta}"
    } else {
        "{prefix:>12.green} {msg} {spinner} {bytes} {bytes_per_sec}"
    };
    bar.set_style(
        ProgressStyle::with_template(&colour(template))
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(verb.to_owned());
    bar.set_message(what.to_owned());
    bar
}

/// A spinner for work in steps whose sizes are unknown (resolving, composing).
pub fn steps(verb: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, target());
    bar.set_style(
        ProgressStyle::with_template(&colour("{prefix:>12.green} {spinner} {msg}"))
            .expect("a valid template"),
    );
    bar.set_prefix(verb.to_owned());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}
