//! Sizes and durations as `[limits]` in `wharf.toml` and the CLI's flags read them:
//! `wharf_types::units::parse_size` and `parse_duration`.
//!
//! Never panics (an overflow included: fuzz builds check arithmetic); a size or
//! duration that parses reads the same written back in its base unit, and is the number
//! times its unit exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf_types::units::{parse_duration, parse_size};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let trimmed = text.trim();
    let digits = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let number = trimmed[..digits].parse::<u64>().ok();
    let unit = trimmed[digits..].trim();

    if let Ok(size) = parse_size(&text) {
        assert_eq!(parse_size(&size.to_string()), Ok(size));
        let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kib" => 1 << 10,
            "m" | "mib" => 1 << 20,
            "g" | "gib" => 1 << 30,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            other => panic!("{text:?} read with the unit {other:?}"),
        };
        assert_eq!(
            u128::from(size),
            u128::from(number.unwrap()) * u128::from(multiplier)
        );
    }

    if let Ok(duration) = parse_duration(&text) {
        let n = u128::from(number.unwrap());
        let nanos = match unit {
            "ms" => n * 1_000_000,
            "" | "s" => n * 1_000_000_000,
            "m" => n * 60_000_000_000,
            "h" => n * 3_600_000_000_000,
            other => panic!("{text:?} read with the unit {other:?}"),
        };
        assert_eq!(duration.as_nanos(), nanos, "{text:?}");
        let written = if duration.subsec_nanos() == 0 {
            format!("{}s", duration.as_secs())
        } else {
            format!("{}ms", duration.as_millis())
        };
        assert_eq!(
            parse_duration(&written),
            Ok(duration),
            "{text:?} as {written:?}"
        );
    }
});
