//! How the CLI writes for people: sizes, colours, and errors with their cause chain.

/// `1.4 MiB`, `312.5 KiB`, `900 B`.
pub fn size(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b >= KIB * KIB {
        format!("{:.2} MiB", b / KIB / KIB)
    } else if b >= KIB {
        format!("{:.1} KiB", b / KIB)
    } else {
        format!("{bytes} B")
    }
}

/// Whether stderr gets colours: a terminal, and neither `NO_COLOR` nor
/// `CLICOLOR=0` set (`CLICOLOR_FORCE=1` forces them), as anstream decides for clap.
pub fn colour_enabled() -> bool {
    anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never
}

const STATUS: anstyle::Style = anstyle::AnsiColor::Green.on_default().bold();

/// Prints a cargo-style status line on stderr: the verb right-aligned in 12 columns
/// (green on a terminal), then the text.
pub fn status(verb: &str, text: std::fmt::Arguments<'_>) {
    anstream::eprintln!("{STATUS}{verb:>12}{STATUS:#} {text}");
}

/// `status!("Pulled", "{name} -> {}", path)`: see [`status`].
#[macro_export]
macro_rules! status {
    ($verb:expr, $($text:tt)*) => {
        $crate::output::status($verb, format_args!($($text)*))
    };
}

const WARNING: anstyle::Style = anstyle::AnsiColor::Yellow.on_default().bold();

/// Prints `warning: ...` on stderr.
pub fn warn(text: &str) {
    anstream::eprintln!("{WARNING}warning:{WARNING:#} {text}");
}

const ERROR: anstyle::Style = anstyle::AnsiColor::Red.on_default().bold();
const HINT: anstyle::Style = anstyle::AnsiColor::Cyan.on_default().bold();

/// Prints `error: ...` and each cause on its own line, as cargo does; a line of the
/// message that starts with `hint:` is set apart.
pub fn error(err: &anyhow::Error) {
    let mut lines = String::new();
    for line in err.to_string().lines() {
        match line.trim_start().strip_prefix("hint:") {
            Some(hint) => lines.push_str(&format!("\n  {HINT}hint:{HINT:#}{hint}")),
            None if lines.is_empty() => lines.push_str(line),
            None => lines.push_str(&format!("\n{line}")),
        }
    }
    anstream::eprintln!("{ERROR}error:{ERROR:#} {lines}");
    for cause in err.chain().skip(1) {
        anstream::eprintln!("  caused by: {cause}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_in_the_largest_fitting_unit() {
        assert_eq!(size(900), "900 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 << 20), "3.00 MiB");
    }
}
