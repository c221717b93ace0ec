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

/// Parses `1MiB`, `512KiB`, `1000000` (bytes), `2MB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size such as 1MiB or 500KiB"))?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kib" | "k" => 1024.0,
        "mib" | "m" => 1024.0 * 1024.0,
        "kb" => 1000.0,
        "mb" => 1_000_000.0,
        _ => {
            return Err(format!(
                "unknown size unit `{}`; use B, KiB, MiB, KB or MB",
                unit.trim()
            ));
        }
    };
    Ok((number * factor) as u64)
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
    fn sizes_parse_in_binary_and_decimal_units() {
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_size("1000000"), Ok(1_000_000));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3 GiB").unwrap_err().contains("GiB"));
    }

    #[test]
    fn sizes_print_in_the_largest_fitting_unit() {
        assert_eq!(size(900), "900 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 << 20), "3.00 MiB");
    }
}
