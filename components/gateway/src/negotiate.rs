//! `Accept-Encoding` negotiation (RFC 9110 section 12.5.3) against the formats the
//! plugged codec supports.

use crate::wharf::compression::types::Format;

/// The HTTP content coding of a format. HTTP's `deflate` is the zlib format.
pub fn content_coding(format: Format) -> &'static str {
    match format {
        Format::Gzip => "gzip",
        Format::Zlib => "deflate",
        Format::Brotli => "br",
        Format::Deflate => "x-raw-deflate",
    }
}

/// Our preference among equally weighted codings: brotli compresses JSON best.
const PREFERENCE: [Format; 3] = [Format::Brotli, Format::Gzip, Format::Zlib];

/// Picks the supported format the client weighs highest (q > 0), or None for identity.
pub fn choose(accept_encoding: &str, supported: &[Format]) -> Option<Format> {
    let mut weights: Vec<(&str, f32)> = Vec::new();
    for item in accept_encoding.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        if coding.is_empty() {
            continue;
        }
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        weights.push((coding, q));
    }
    let weight = |format: Format| {
        let coding = content_coding(format);
        weights
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(coding))
            .or_else(|| weights.iter().find(|(c, _)| *c == "*"))
            .map(|(_, q)| *q)
            .unwrap_or(0.0)
    };
    let mut best: Option<(Format, f32)> = None;
    for format in PREFERENCE.into_iter().filter(|f| supported.contains(f)) {
        let q = weight(format);
        if q > 0.0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((format, q));
        }
    }
    best.map(|(format, _)| format)
}
