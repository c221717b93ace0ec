//! OCI repository names and tags: `wharf_registry::artifact::valid_repository` and
//! `valid_tag` against independent oracles, the distribution spec's regexes.
//!
//! Also the bridge between the two views of the registry: every valid package name's
//! `namespace/name` is a valid repository, and every publishable version (semver,
//! no build metadata) is a valid tag.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use regex::Regex;
use semver::Version;
use wharf_registry::artifact::{valid_repository, valid_tag};
use wharf_types::PackageName;

/// From the distribution spec, "Pulling manifests".
static REPOSITORY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$",
    )
    .unwrap()
});
static TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$").unwrap());

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    assert_eq!(
        valid_repository(text),
        REPOSITORY.is_match(text) && text.len() <= 255,
        "repository {text:?}"
    );
    assert_eq!(valid_tag(text), TAG.is_match(text), "tag {text:?}");

    if let Ok(name) = text.parse::<PackageName>() {
        let repository = format!("{}/{}", name.namespace(), name.name());
        assert!(valid_repository(&repository), "{repository}");
    }
    if let Ok(version) = Version::parse(text)
        && version.build.is_empty()
        && text.len() <= 128
    {
        assert!(valid_tag(&version.to_string()), "{version}");
    }
});
