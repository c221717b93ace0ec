//! The compiled-code cache: compiled once, loaded on a restart, never trusted when
//! its file does not match what was written.

mod common;

use wharf_host::{CacheOutcome, CodeCache};

#[tokio::test]
async fn a_restart_loads_from_the_cache_and_a_corrupt_entry_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let cache = CodeCache::new(dir.path());
    let limits = common::limits();
    let bytes = common::probe();

    let first = common::runtime(&limits, Some(cache.clone()));
    let (_, outcome) = first.load(bytes).unwrap();
    assert_eq!(outcome, CacheOutcome::Compiled);
    let entry = cache.entry(first.engine(), bytes);
    assert!(entry.exists());
    drop(first);

    // A restart: a new engine with the same settings maps the entry.
    let second = common::runtime(&limits, Some(cache.clone()));
    let (component, outcome) = second.load(bytes).unwrap();
    assert_eq!(outcome, CacheOutcome::Loaded);
    assert!(component.component_type().exports(second.engine()).count() > 0);

    // Flip one byte in the middle of the artifact: detected, rebuilt, overwritten.
    let mut artifact = std::fs::read(&entry).unwrap();
    let middle = artifact.len() / 2;
    artifact[middle] ^= 0xff;
    std::fs::write(&entry, &artifact).unwrap();
    let (_, outcome) = second.load(bytes).unwrap();
    assert!(
        matches!(&outcome, CacheOutcome::Rebuilt(why) if why.contains("sha256")),
        "{outcome:?}"
    );
    assert_eq!(second.load(bytes).unwrap().1, CacheOutcome::Loaded);

    // A truncated entry whose recorded digest was rewritten to match still has to
    // pass wasmtime's own checks; it is rebuilt too.
    std::fs::write(&entry, b"not an artifact").unwrap();
    let mut digest_path = entry.clone().into_os_string();
    digest_path.push(".sha256");
    std::fs::write(&digest_path, sha256_hex(b"not an artifact")).unwrap();
    let (_, outcome) = second.load(bytes).unwrap();
    assert!(matches!(outcome, CacheOutcome::Rebuilt(_)), "{outcome:?}");

    // An entry without its recorded digest is not trusted.
    std::fs::remove_file(&digest_path).unwrap();
    let (_, outcome) = second.load(bytes).unwrap();
    assert!(matches!(outcome, CacheOutcome::Rebuilt(_)), "{outcome:?}");
    assert_eq!(second.load(bytes).unwrap().1, CacheOutcome::Loaded);
}

#[tokio::test]
async fn entries_are_keyed_by_the_component_and_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let cache = CodeCache::new(dir.path());
    let runtime = common::runtime(&common::limits(), Some(cache.clone()));
    let probe = cache.entry(runtime.engine(), common::probe());
    let flate = cache.entry(
        runtime.engine(),
        wharf_bundled::component("flate").unwrap().bytes,
    );
    assert_ne!(probe, flate);
    let name = probe.file_name().unwrap().to_str().unwrap();
    // <sha256 of the component>-<engine compatibility hash>.cwasm
    assert!(name.ends_with(".cwasm"), "{name}");
    assert_eq!(name.split('-').next().unwrap().len(), 64, "{name}");
}

fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let digest = <sha2::Sha256 as sha2::Digest>::digest(bytes);
    digest.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
