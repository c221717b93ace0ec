//! `wharf.toml` through `Manifest::from_str`: never panics, and what it accepts
//! survives a round trip: written back as TOML from the parsed model, it parses to the
//! same manifest. Every plug key and host pattern re-parses from its display, and the
//! model's walks (`components`, `plugs_at`) agree with each other.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use toml::{Table, Value};
use wharf_compose::manifest::{HostPattern, KeyPath, Manifest, Plug, PlugKey, Source};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(manifest) = text.parse::<Manifest>() else {
        return;
    };

    let written = write(&manifest);
    let reparsed: Manifest = written
        .parse()
        .unwrap_or_else(|e| panic!("the manifest written back does not parse: {e:?}\n{written}"));
    assert_eq!(
        reparsed, manifest,
        "round trip changed the manifest:\n{written}"
    );

    let components = manifest.components();
    assert_eq!(components[0].0, KeyPath::root());
    assert_eq!(components[0].1, &manifest.deployable.root);
    for (path, source) in &components {
        let _ = (path.to_string(), source.to_string());
        assert!(manifest.plugs_at(path).is_some(), "no plugs at {path}");
    }
    assert_eq!(components.len(), 1 + count(&manifest.plugs));

    check_keys(&manifest.plugs);
    for pattern in &manifest.host.allow {
        let text = pattern.to_string();
        assert_eq!(text.parse::<HostPattern>().as_ref(), Ok(pattern));
        // A pattern naming an interface matches itself as an import name.
        if text.contains('/') {
            assert!(manifest.host.allows(&text), "{text} does not allow itself");
        }
    }
});

fn count(plugs: &BTreeMap<PlugKey, Plug>) -> usize {
    plugs.values().map(|p| 1 + count(&p.plugs)).sum()
}

fn check_keys(plugs: &BTreeMap<PlugKey, Plug>) {
    for (key, plug) in plugs {
        let text = key.to_string();
        assert_eq!(text.parse::<PlugKey>().as_ref(), Ok(key));
        // A key claims the imports it names, at any version.
        let import = match key.interface() {
            Some(_) => format!("{text}@1.0.0"),
            None => format!("{text}/any-interface@1.0.0"),
        };
        assert!(key.matches(&import), "{text} does not claim {import}");
        check_keys(&plug.plugs);
    }
}

/// The manifest as TOML, from the parsed model alone.
fn write(m: &Manifest) -> String {
    let mut deployable = Table::new();
    deployable.insert("name".into(), m.deployable.name.to_string().into());
    deployable.insert("version".into(), m.deployable.version.to_string().into());
    deployable.insert("root".into(), Value::Table(source(&m.deployable.root)));

    let mut doc = Table::new();
    doc.insert("deployable".into(), Value::Table(deployable));
    doc.insert("plugs".into(), Value::Table(plugs(&m.plugs)));
    let allow = m.host.allow.iter().map(|p| p.to_string().into()).collect();
    let mut host = Table::new();
    host.insert("allow".into(), Value::Array(allow));
    doc.insert("host".into(), Value::Table(host));

    let mut limits = Table::new();
    let l = &m.limits;
    for (key, duration) in [("deadline", l.deadline), ("queue-timeout", l.queue_timeout)] {
        if let Some(d) = duration {
            // Parsed durations are whole milliseconds or whole seconds.
            let text = if d.subsec_nanos() == 0 {
                format!("{}s", d.as_secs())
            } else {
                format!("{}ms", d.as_millis())
            };
            limits.insert(key.into(), text.into());
        }
    }
    for (key, size) in [
        ("max-memory", l.max_memory),
        ("max-request-body", l.max_request_body),
        ("max-response-body", l.max_response_body),
    ] {
        if let Some(n) = size {
            // As text: a TOML integer stops at i64::MAX, a size does not.
            limits.insert(key.into(), n.to_string().into());
        }
    }
    if let Some(n) = l.max_concurrency {
        let n = i64::try_from(n).expect("came from a TOML integer");
        limits.insert("max-concurrency".into(), n.into());
    }
    doc.insert("limits".into(), Value::Table(limits));
    toml::to_string(&doc).expect("a table always serializes")
}

fn plugs(plugs: &BTreeMap<PlugKey, Plug>) -> Table {
    plugs
        .iter()
        .map(|(key, plug)| {
            let mut table = source(&plug.source);
            if !plug.plugs.is_empty() {
                table.insert("plugs".into(), Value::Table(self::plugs(&plug.plugs)));
            }
            (key.to_string(), Value::Table(table))
        })
        .collect()
}

fn source(source: &Source) -> Table {
    let mut table = Table::new();
    match source {
        Source::Registry {
            package,
            requirement,
            registry,
        } => {
            table.insert("package".into(), package.to_string().into());
            table.insert("version".into(), requirement.to_string().into());
            if let Some(r) = registry {
                table.insert("registry".into(), r.clone().into());
            }
        }
        Source::Path(path) => {
            let path = path.to_str().expect("came from a TOML string");
            table.insert("path".into(), path.into());
        }
        Source::Url { url, digest } => {
            table.insert("url".into(), url.clone().into());
            table.insert("digest".into(), digest.to_string().into());
        }
    }
    table
}
