//! RFC 8785 (JSON Canonicalization Scheme) for a parsed document, written in one pass.
//!
//! serde_json_canonicalizer, used before, serialized every member, parsed each key back
//! to sort it and buffered every value: a third of the gateway's CPU on a 1 KiB body.
//! This writes straight into one string; the RFC's own test vectors
//! (`bundled/tests/transform.rs`) hold it to the same bytes.

use std::cmp::Ordering;
use std::fmt::Write as _;

use serde_json::{Number, Value};

/// The canonical form of `value`.
pub fn to_string(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => number(n, out),
        Value::String(s) => string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // Members sorted by their names' UTF-16 code units (RFC 8785 3.2.3).
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_unstable_by(|a, b| utf16_order(a.0, b.0));
            out.push('{');
            for (i, (name, value)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(name, out);
                out.push(':');
                write(value, out);
            }
            out.push('}');
        }
    }
}

/// UTF-16 code unit order; for ASCII it is byte order (and so is UTF-8's for every
/// pair of code points below U+E000, but not above it).
fn utf16_order(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.cmp(b)
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

/// Numbers as ECMAScript's `Number.prototype.toString` writes the IEEE 754 double
/// (RFC 8785 3.2.2.3): integers that a double holds exactly are written as they are,
/// everything else through ryu-js, which implements that algorithm.
fn number(n: &Number, out: &mut String) {
    const EXACT: u64 = 1 << 53;
    if let Some(i) = n.as_i64()
        && i.unsigned_abs() <= EXACT
    {
        let _ = write!(out, "{i}");
        return;
    }
    if let Some(u) = n.as_u64()
        && u <= EXACT
    {
        let _ = write!(out, "{u}");
        return;
    }
    // A parsed number is always finite.
    let double = n.as_f64().unwrap_or_default();
    out.push_str(ryu_js::Buffer::new().format_finite(double));
}

/// A string with the escapes RFC 8785 3.2.2.2 prescribes and no others.
fn string(s: &str, out: &mut String) {
    out.push('"');
    let mut plain = 0;
    for (i, byte) in s.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x09 => "\\t",
            0x0a => "\\n",
            0x0c => "\\f",
            0x0d => "\\r",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[plain..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        plain = i + 1;
    }
    out.push_str(&s[plain..]);
    out.push('"');
}
