//! What each component claims to be: it exports exactly its contract at the declared
//! version (the check `wasm-tools component wit` lets a person make by eye), plus
//! `wizer-initialize` where it has an initializer (docs/components.md), imports
//! nothing but WASI (the gateway: WASI and the four contracts), and every WIT package
//! decodes back to its name and version.

use wit_component::DecodedWasm;

fn exports(crate_name: &str) -> Vec<String> {
    let mut names =
        wharf_compose::exports(wharf_bundled::component(crate_name).unwrap().bytes).unwrap();
    names.sort();
    names
}

fn imports(crate_name: &str) -> Vec<String> {
    wharf_compose::imports(wharf_bundled::component(crate_name).unwrap().bytes).unwrap()
}

#[test]
fn each_component_exports_exactly_its_contract() {
    let expected: [(&str, &[&str]); 6] = [
        (
            "jwt-auth",
            &[
                "wharf:auth/keys@1.0.0",
                "wharf:auth/signer@1.0.0",
                "wharf:auth/types@1.0.0",
                "wharf:auth/verifier@1.0.0",
            ],
        ),
        (
            "flate",
            &[
                "wharf:compression/codec@1.1.0",
                "wharf:compression/streaming@1.1.0",
                "wharf:compression/types@1.1.0",
                "wizer-initialize",
            ],
        ),
        (
            "brotli",
            &[
                "wharf:compression/codec@1.0.0",
                "wharf:compression/types@1.0.0",
            ],
        ),
        (
            "json-schema",
            &[
                "wharf:schema/types@1.0.0",
                "wharf:schema/validator@1.0.0",
                "wizer-initialize",
            ],
        ),
        (
            "json-transform",
            &[
                "wharf:transform/transformer@1.0.0",
                "wharf:transform/types@1.0.0",
            ],
        ),
        (
            "gateway",
            &["wasi:http/incoming-handler@0.2.12", "wizer-initialize"],
        ),
    ];
    for (name, want) in expected {
        assert_eq!(exports(name), want, "{name}");
    }
    assert_eq!(
        wharf_bundled::COMPONENTS.len(),
        expected.len(),
        "a component without a contract test"
    );
}

#[test]
fn plugs_import_only_wasi_and_the_gateway_imports_the_four_contracts() {
    for component in wharf_bundled::COMPONENTS {
        let foreign: Vec<String> = imports(component.crate_name)
            .into_iter()
            .filter(|i| !i.starts_with("wasi:"))
            .collect();
        if component.crate_name == "gateway" {
            for contract in [
                "wharf:auth/verifier@1.0.0",
                "wharf:schema/validator@1.0.0",
                "wharf:transform/transformer@1.0.0",
                "wharf:compression/codec@1.0.0",
            ] {
                assert!(
                    foreign.iter().any(|i| i == contract),
                    "gateway does not import {contract}: {foreign:?}"
                );
            }
            assert!(
                foreign.iter().all(|i| i.starts_with("wharf:")),
                "{foreign:?}"
            );
        } else {
            assert!(foreign.is_empty(), "{}: {foreign:?}", component.crate_name);
        }
    }
}

#[test]
fn wit_packages_decode_to_their_name_and_version() {
    let mut seen = Vec::new();
    for package in wharf_bundled::WIT_PACKAGES {
        let DecodedWasm::WitPackage(resolve, id) = wit_component::decode(package.bytes).unwrap()
        else {
            panic!("{} is not a WIT package", package.package);
        };
        let name = &resolve.packages[id].name;
        assert_eq!(format!("{}:{}", name.namespace, name.name), package.package);
        assert_eq!(name.version.as_ref().unwrap().to_string(), package.version);
        // Every item is documented.
        for (_, iface) in &resolve.packages[id].interfaces {
            let iface = &resolve.interfaces[*iface];
            assert!(
                iface.docs.contents.is_some(),
                "{}: interface {:?} has no docs",
                package.package,
                iface.name
            );
            for (fname, func) in &iface.functions {
                assert!(
                    func.docs.contents.is_some(),
                    "{}: {fname} has no docs",
                    package.package
                );
            }
        }
        seen.push(format!("{}@{}", package.package, package.version));
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "wharf:auth@1.0.0",
            "wharf:compression@1.0.0",
            "wharf:compression@1.1.0",
            "wharf:compression@2.0.0",
            "wharf:gateway@1.0.0",
            "wharf:schema@1.0.0",
            "wharf:transform@1.0.0"
        ]
    );
}
