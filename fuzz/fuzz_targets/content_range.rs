//! An upload chunk's `Content-Range` through `wharf_registry::http::oci::content_range_start`,
//! as `PATCH`/`PUT /v2/<name>/blobs/uploads/<id>` reads it.
//!
//! Never panics; reads exactly what the handler read before the function was factored
//! out of it (the expression is kept here as the oracle); and reads the start of every
//! well-formed range, in the forms clients send (`0-1023`, `bytes 0-1023`, spaced).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wharf_registry::http::oci::content_range_start;

/// What `append` computed inline before `content_range_start` existed.
fn before(range: &str) -> Option<u64> {
    range
        .trim()
        .trim_start_matches("bytes ")
        .split('-')
        .next()
        .and_then(|s| s.trim().parse::<u64>().ok())
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let start = content_range_start(&text);
    assert_eq!(start, before(&text), "{text:?}");
    if let Some(start) = start {
        // A start was read, so its digits are in the text (after any `+` or zeros).
        assert!(
            text.contains(&start.to_string()),
            "{text:?} read as {start}"
        );
    }

    // Well-formed ranges from the first 16 bytes: both numbers, every form.
    if data.len() >= 16 {
        let a = u64::from_le_bytes(data[..8].try_into().unwrap());
        let b = u64::from_le_bytes(data[8..16].try_into().unwrap());
        for form in [
            format!("{a}-{b}"),
            format!("bytes {a}-{b}"),
            format!(" {a} - {b} "),
            format!("{a}-"),
            format!("{a}"),
        ] {
            assert_eq!(content_range_start(&form), Some(a), "{form:?}");
        }
        assert_eq!(content_range_start(&format!("-{a}")), None);
        assert_eq!(content_range_start(&format!("bytes={a}-{b}")), None);
    }
});
