//! WIT text, highlighted: keywords, types, comments and definitions get a class each,
//! every interface or world definition an anchor (`#interface-codec`), and every
//! reference to another package's interface (`wharf:compression/codec@1.1.0`) a link
//! to that package's page when the registry holds it. Local references (`use
//! types.{...}`) link to the anchor on the same page.

use std::collections::BTreeSet;

use maud::{Markup, html};

/// What a piece of WIT text is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    Plain,
    Comment,
    Keyword,
    /// A built-in type: `u32`, `string`, `list`, ...
    Type,
    /// The name being defined after `interface`, `record`, `func` and friends; the id
    /// is the anchor for interfaces and worlds.
    Definition(Option<String>),
    /// A reference; the href when it leads somewhere.
    Reference(Option<String>),
}

const KEYWORDS: &[&str] = &[
    "package",
    "interface",
    "world",
    "use",
    "import",
    "export",
    "include",
    "with",
    "as",
    "from",
    "type",
    "record",
    "variant",
    "enum",
    "flags",
    "resource",
    "func",
    "static",
    "constructor",
    "async",
];

const TYPES: &[&str] = &[
    "bool",
    "u8",
    "u16",
    "u32",
    "u64",
    "s8",
    "s16",
    "s32",
    "s64",
    "f32",
    "f64",
    "float32",
    "float64",
    "char",
    "string",
    "list",
    "option",
    "result",
    "tuple",
    "own",
    "borrow",
    "future",
    "stream",
    "error-context",
];

/// `text` in classed pieces; `known` holds the `ns:name` packages to link.
pub fn tokens(text: &str, known: &BTreeSet<String>) -> Vec<(Class, String)> {
    let mut out: Vec<(Class, String)> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut last_keyword = "";
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'%' || b == b'_';
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            let end = rest.find('\n').unwrap_or(rest.len());
            out.push((Class::Comment, rest[..end].to_owned()));
            i += end;
        } else if rest.starts_with("/*") {
            let end = rest.find("*/").map_or(rest.len(), |e| e + 2);
            out.push((Class::Comment, rest[..end].to_owned()));
            i += end;
        } else if ident(bytes[i]) {
            let mut end = i;
            while end < bytes.len() && ident(bytes[end]) {
                end += 1;
            }
            if text[end..].starts_with(':') && bytes.get(end + 1).is_some_and(|b| ident(*b)) {
                let len = qualified_len(&text[i..]);
                let name = &text[i..i + len];
                out.push((Class::Reference(qualified_href(name, known)), name.into()));
                i += len;
                last_keyword = "";
                continue;
            }
            let word = &text[i..end];
            let class = if KEYWORDS.contains(&word) {
                Class::Keyword
            } else if matches!(
                last_keyword,
                "interface" | "world" | "record" | "variant" | "enum" | "flags" | "resource"
            ) || (last_keyword == "type" && !TYPES.contains(&word))
            {
                let anchor = matches!(last_keyword, "interface" | "world")
                    .then(|| format!("{last_keyword}-{}", word.trim_start_matches('%')));
                Class::Definition(anchor)
            } else if TYPES.contains(&word) {
                Class::Type
            } else if last_keyword == "use" && text[end..].starts_with(".{") {
                Class::Reference(Some(format!("#interface-{}", word.trim_start_matches('%'))))
            } else if text[end..].starts_with(": func") || text[end..].starts_with(": async func") {
                Class::Definition(None)
            } else {
                Class::Plain
            };
            last_keyword = if class == Class::Keyword { word } else { "" };
            out.push((class, word.into()));
            i = end;
        } else {
            let ch = rest.chars().next().expect("not at the end");
            if !ch.is_whitespace() {
                last_keyword = "";
            }
            match out.last_mut() {
                Some((Class::Plain, s)) => s.push(ch),
                _ => out.push((Class::Plain, ch.to_string())),
            }
            i += ch.len_utf8();
        }
    }
    out
}

/// The length of `ns:pkg[/iface][@version]` at the start of `text`. A version ends
/// before a `.` that is not followed by a digit (`@1.0.0.{format}`).
fn qualified_len(text: &str) -> usize {
    let b = text.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'%';
    let mut i = 0;
    while i < b.len() && (ident(b[i]) || b[i] == b':' || b[i] == b'/') {
        i += 1;
    }
    if b.get(i) == Some(&b'@') {
        i += 1;
        while i < b.len()
            && (b[i].is_ascii_alphanumeric()
                || b[i] == b'-'
                || b[i] == b'+'
                || (b[i] == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_alphanumeric)))
        {
            i += 1;
        }
    }
    i
}

/// Where `ns:pkg[/iface][@version]` leads: the package's page (at the version, at the
/// interface's anchor) when the registry holds the package.
pub fn qualified_href(name: &str, known: &BTreeSet<String>) -> Option<String> {
    let (path, version) = match name.split_once('@') {
        Some((p, v)) => (p, Some(v)),
        None => (name, None),
    };
    let (package, iface) = match path.split_once('/') {
        Some((p, i)) => (p, Some(i)),
        None => (path, None),
    };
    if !known.contains(package) {
        return None;
    }
    let mut href = super::package_href(package);
    if let Some(v) = version {
        href = format!("{href}/{v}");
    }
    if let Some(i) = iface {
        href = format!("{href}#interface-{i}");
    }
    Some(href)
}

/// The `ns:name` packages `text` refers to (candidates for links).
pub fn referenced_packages(text: &str) -> BTreeSet<String> {
    tokens(text, &BTreeSet::new())
        .into_iter()
        .filter(|(c, _)| matches!(c, Class::Reference(None)))
        .filter_map(|(_, name)| {
            let path = name.split(['@', '/']).next()?;
            path.contains(':').then(|| path.to_owned())
        })
        .collect()
}

/// The highlighted text as a `<pre>` block.
pub fn render(text: &str, known: &BTreeSet<String>) -> Markup {
    html! {
        pre.wit { code {
            @for (class, piece) in tokens(text, known) {
                @match class {
                    Class::Plain => (piece),
                    Class::Comment => span.c { (piece) },
                    Class::Keyword => span.k { (piece) },
                    Class::Type => span.t { (piece) },
                    Class::Definition(Some(id)) => span.d id=(id) { (piece) },
                    Class::Definition(None) => span.d { (piece) },
                    Class::Reference(Some(href)) => a.r href=(href) { (piece) },
                    Class::Reference(None) => span.r { (piece) },
                }
            }
        } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_link_to_known_packages_at_their_version_and_interface() {
        let known = BTreeSet::from(["wharf:compression".to_owned()]);
        let text = "package wharf:flate@1.1.0;\n\n/// Codec.\nworld flate {\n  \
                    export wharf:compression/codec@1.1.0;\n  import wasi:io/streams@0.2.12;\n}\n";
        let links: Vec<_> = tokens(text, &known)
            .into_iter()
            .filter_map(|(c, t)| match c {
                Class::Reference(href) => Some((t, href)),
                _ => None,
            })
            .collect();
        assert_eq!(
            links,
            [
                ("wharf:flate@1.1.0".to_owned(), None),
                (
                    "wharf:compression/codec@1.1.0".to_owned(),
                    Some("/packages/wharf/compression/1.1.0#interface-codec".to_owned())
                ),
                ("wasi:io/streams@0.2.12".to_owned(), None),
            ]
        );
        assert_eq!(
            referenced_packages(text),
            BTreeSet::from([
                "wasi:io".to_owned(),
                "wharf:compression".to_owned(),
                "wharf:flate".to_owned()
            ])
        );
    }

    #[test]
    fn versions_stop_before_a_use_list_and_definitions_get_anchors() {
        assert_eq!(
            qualified_len("wharf:compression/types@1.0.0.{format};"),
            "wharf:compression/types@1.0.0".len()
        );
        assert_eq!(qualified_len("a:b@1.0.0-rc.1;"), "a:b@1.0.0-rc.1".len());
        let pieces = tokens(
            "interface codec {\n  use types.{format};\n  compress: func(level: u32);\n}",
            &BTreeSet::new(),
        );
        assert!(pieces.contains(&(
            Class::Definition(Some("interface-codec".into())),
            "codec".into()
        )));
        assert!(pieces.contains(&(
            Class::Reference(Some("#interface-types".into())),
            "types".into()
        )));
        assert!(pieces.contains(&(Class::Definition(None), "compress".into())));
        assert!(pieces.contains(&(Class::Type, "u32".into())));
        assert!(pieces.contains(&(Class::Keyword, "func".into())));
    }
}
