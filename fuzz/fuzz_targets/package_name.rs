//! Package names and the references built on them.
//!
//! - `PackageName` (`FromStr`, `new`, serde) against an independent oracle, the
//!   documented grammar as a regex: kebab-case `namespace:name`, each part at most 64
//!   bytes. What parses displays as exactly its text and rebuilds from its parts.
//! - Plug keys (`ns:pkg` or `ns:pkg/iface`, no version) and host import patterns
//!   (`ns:pkg/iface@1.2.3`, `ns:pkg/*`) of the deploy manifest: accepted exactly when the
//!   grammar says, display as their text, and match the import names they spell.
//! - The CLI's `ns:name@requirement` spec (`wharf fetch`; split at the first `@`, the
//!   name parsed as a `PackageName`, the requirement as a semver `VersionReq` as the
//!   registry does): what parses writes back to a spec that parses to the same pair.
//!
//! The input is one text; a `\n` in it also splits it into the two parts given to
//! `PackageName::new`.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use regex::Regex;
use semver::{Version, VersionReq};
use wharf_compose::manifest::{HostPattern, PlugKey};
use wharf_types::{MAX_PART_LEN, PackageName};

const WORDS: &str = "[a-z][a-z0-9]*(?:-[a-z][a-z0-9]*)*";
static PART: LazyLock<Regex> = LazyLock::new(|| Regex::new(&format!("^{WORDS}$")).unwrap());

fn part_ok(part: &str) -> bool {
    PART.is_match(part) && part.len() <= MAX_PART_LEN
}

/// The oracle for `namespace:name`.
fn name_ok(text: &str) -> bool {
    text.split_once(':')
        .is_some_and(|(ns, name)| part_ok(ns) && part_ok(name))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    // PackageName::from_str, and serde.
    let parsed = text.parse::<PackageName>();
    assert_eq!(parsed.is_ok(), name_ok(text), "{text:?}: {parsed:?}");
    let via_serde = serde_json::from_value::<PackageName>(text.into());
    assert_eq!(via_serde.as_ref().ok(), parsed.as_ref().ok());
    if let Ok(name) = &parsed {
        assert_eq!(name.to_string(), text);
        assert_eq!(
            PackageName::new(name.namespace(), name.name()).as_ref(),
            Ok(name)
        );
        let json = serde_json::to_string(name).unwrap();
        assert_eq!(
            serde_json::from_str::<PackageName>(&json).ok().as_ref(),
            Some(name)
        );
    }

    // PackageName::new, from the text split at a newline.
    if let Some((namespace, name)) = text.split_once('\n') {
        let built = PackageName::new(namespace, name);
        assert_eq!(built.is_ok(), part_ok(namespace) && part_ok(name));
        if let Ok(built) = built {
            assert_eq!((built.namespace(), built.name()), (namespace, name));
            assert_eq!(built.to_string().parse::<PackageName>(), Ok(built));
        }
    }

    plug_key(text);
    host_pattern(text);
    spec(text);
});

fn plug_key(text: &str) {
    let key = text.parse::<PlugKey>();
    let ok = !text.contains('@')
        && match text.split_once('/') {
            Some((package, interface)) => name_ok(package) && part_ok(interface),
            None => name_ok(text),
        };
    assert_eq!(key.is_ok(), ok, "{text:?}: {key:?}");
    if let Ok(key) = key {
        assert_eq!(key.to_string(), text);
        assert_eq!(
            key.package()
                .to_string()
                .parse::<PlugKey>()
                .map(|k| k.interface().is_none()),
            Ok(true)
        );
        let import = match key.interface() {
            Some(_) => format!("{text}@0.2.0"),
            None => format!("{text}/x@0.2.0"),
        };
        assert!(key.matches(&import), "{text} does not claim {import}");
        assert!(!key.matches(&format!("{}x/y", key.package())));
    }
}

fn host_pattern(text: &str) {
    let pattern = text.parse::<HostPattern>();
    let (base, version) = match text.split_once('@') {
        Some((base, version)) => (base, Some(version)),
        None => (text, None),
    };
    let ok = match (base.split_once('/'), version) {
        (None, None) => name_ok(base),
        (Some((package, "*")), None) => name_ok(package),
        (Some((package, interface)), None) => name_ok(package) && part_ok(interface),
        (Some((package, interface)), Some(v)) => {
            name_ok(package) && part_ok(interface) && Version::parse(v).is_ok()
        }
        (None, Some(_)) => false,
    };
    assert_eq!(pattern.is_ok(), ok, "{text:?}: {pattern:?}");
    if let Ok(pattern) = pattern {
        assert_eq!(pattern.to_string(), text);
        if text.contains('/') {
            assert!(pattern.matches(text), "{text} does not match itself");
        }
    }
}

fn spec(text: &str) {
    let (name, requirement) = text.split_once('@').unwrap_or((text, "*"));
    let (Ok(name), Ok(requirement)) = (name.parse::<PackageName>(), VersionReq::parse(requirement))
    else {
        return;
    };
    let written = format!("{name}@{requirement}");
    let (n, r) = written.split_once('@').unwrap();
    assert_eq!(n.parse::<PackageName>().as_ref(), Ok(&name));
    assert_eq!(
        VersionReq::parse(r).ok().as_ref(),
        Some(&requirement),
        "{text:?} as {written:?}"
    );
}
