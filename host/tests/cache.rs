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

/// A cache directory someone else could write to is refused, naming it: whoever writes
/// an entry and its digest there chooses the native code the host maps and runs.
#[cfg(unix)]
#[tokio::test]
async fn a_cache_directory_another_user_owns_or_may_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let limits = common::limits();

    let mut untrusted = Vec::new();
    for (name, mode) in [("everyone", 0o777), ("group", 0o770), ("sticky", 0o1777)] {
        let path = dir.path().join(name);
        std::fs::create_dir(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        untrusted.push((path, "written by group or others"));
    }
    // Another user's directory: one made and given away (as root), else `/`.
    let theirs = dir.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).unwrap();
    let theirs = match std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)) {
        Ok(()) => theirs,
        Err(_) => std::path::PathBuf::from("/"),
    };
    untrusted.push((theirs, "is owned by user"));

    for (path, why) in untrusted {
        // At start...
        let mut options = wharf_host::RuntimeOptions::for_limits(&limits);
        options.cache = Some(CodeCache::new(&path));
        let Err(error) = wharf_host::Runtime::new(&options) else {
            panic!("{} was trusted", path.display());
        };
        let error = error.to_string();
        assert!(
            error.contains(&path.display().to_string()) && error.contains(why),
            "{error}"
        );
        // ...and by the cache itself, which neither reads nor writes an entry there.
        let uncached = common::runtime(&limits, None);
        let before = std::fs::read_dir(&path).unwrap().count();
        let refused = CodeCache::new(&path).load(uncached.engine(), common::probe());
        assert!(
            matches!(refused, Err(wharf_host::Error::UntrustedCache { .. })),
            "{}",
            path.display()
        );
        assert_eq!(std::fs::read_dir(&path).unwrap().count(), before);
    }
}

/// A cache directory that does not exist is made at start, mode 0700 at every level
/// made, and its entries are 0600.
#[cfg(unix)]
#[tokio::test]
async fn a_new_cache_directory_is_made_private_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let compiled = dir.path().join("cache/wharf/compiled");
    let runtime = common::runtime(&common::limits(), Some(CodeCache::new(&compiled)));
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    for level in ["cache", "cache/wharf", "cache/wharf/compiled"] {
        assert_eq!(mode(&dir.path().join(level)), 0o700, "{level}");
    }
    let (_, outcome) = runtime.load(common::probe()).unwrap();
    assert_eq!(outcome, CacheOutcome::Compiled);
    let entry = runtime
        .cache()
        .unwrap()
        .entry(runtime.engine(), common::probe());
    assert_eq!(mode(&entry), 0o600);
}

fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let digest = <sha2::Sha256 as sha2::Digest>::digest(bytes);
    digest.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
