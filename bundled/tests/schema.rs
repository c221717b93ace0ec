//! `json-schema` against `wharf:schema`: the official JSON Schema Test Suite (required
//! tests of drafts 2020-12 and 7), violation paths, and errors.

mod common;

use std::fs;
use std::path::Path;

use serde_json::Value;

use common::bindings::schema::JsonSchema;
use common::bindings::schema::exports::wharf::schema::types::{
    CompileOptions, Draft, Error, Violation,
};

use wasmtime::Store;
use wasmtime::component::ResourceAny;

struct Validator {
    store: Store<common::Host>,
    bindings: JsonSchema,
}

impl Validator {
    fn new() -> Self {
        let (mut store, linker) = common::store_and_linker();
        let bindings =
            JsonSchema::instantiate(&mut store, &common::bundled("json-schema"), &linker).unwrap();
        Self { store, bindings }
    }

    fn compile(&mut self, schema: &str, options: &CompileOptions) -> Result<ResourceAny, Error> {
        self.bindings
            .wharf_schema_validator()
            .schema()
            .call_compile(&mut self.store, schema, options)
            .unwrap()
    }

    fn validate(&mut self, schema: ResourceAny, document: &str) -> Result<Vec<Violation>, Error> {
        self.bindings
            .wharf_schema_validator()
            .schema()
            .call_validate(&mut self.store, schema, document)
            .unwrap()
    }

    fn check(&mut self, schema: &str, document: &str) -> Vec<(String, String)> {
        let compiled = self.compile(schema, &options(None)).unwrap();
        let violations = self.validate(compiled, document).unwrap();
        compiled.resource_drop(&mut self.store).unwrap();
        violations
            .into_iter()
            .map(|v| (v.instance_path, v.schema_path))
            .collect()
    }
}

fn options(default_draft: Option<Draft>) -> CompileOptions {
    CompileOptions {
        default_draft,
        resources: Vec::new(),
        assert_format: false,
    }
}

/// The suite's remote documents, served at `http://localhost:1234/` in the suite's
/// own runner; here they are handed to the compiler as resources.
fn remotes(dir: &Path) -> Vec<(String, String)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else if path.extension().is_some_and(|e| e == "json") {
                let relative = path
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((
                    format!("http://localhost:1234/{relative}"),
                    fs::read_to_string(&path).unwrap(),
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}

/// Runs every required test file of one draft; returns the failures.
fn run_suite(draft_dir: &str, draft: Draft) -> (usize, Vec<String>) {
    let suite = common::shared_dir().join("testdata/json-schema-test-suite");
    let remotes = remotes(&suite.join("remotes"));
    let mut validator = Validator::new();
    let mut passed = 0;
    let mut failures = Vec::new();
    let mut files: Vec<_> = fs::read_dir(suite.join("tests").join(draft_dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let groups: Vec<Value> = serde_json::from_str(&fs::read_to_string(&file).unwrap()).unwrap();
        for group in groups {
            let schema = group["schema"].to_string();
            let mut options = options(Some(draft));
            if schema.contains("localhost:1234") {
                options.resources = remotes.clone();
            }
            let description = group["description"].as_str().unwrap();
            let compiled = match validator.compile(&schema, &options) {
                Ok(compiled) => compiled,
                Err(e) => {
                    failures.push(format!("{name}: {description}: compile: {e:?}"));
                    continue;
                }
            };
            for test in group["tests"].as_array().unwrap() {
                let expected = test["valid"].as_bool().unwrap();
                let violations = validator
                    .validate(compiled, &test["data"].to_string())
                    .unwrap();
                if violations.is_empty() == expected {
                    passed += 1;
                } else {
                    failures.push(format!("{name}: {description}: {}", test["description"]));
                }
            }
            compiled.resource_drop(&mut validator.store).unwrap();
        }
    }
    (passed, failures)
}

#[test]
fn json_schema_test_suite_draft_2020_12() {
    let (passed, failures) = run_suite("draft2020-12", Draft::Draft2020);
    assert!(passed > 1000, "only {passed} tests ran");
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        passed + failures.len(),
        failures.join("\n")
    );
}

#[test]
fn json_schema_test_suite_draft_7() {
    let (passed, failures) = run_suite("draft7", Draft::Draft7);
    assert!(passed > 800, "only {passed} tests ran");
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n{}",
        failures.len(),
        passed + failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_violation_is_reported_with_instance_and_schema_paths() {
    let schema = r#"{
        "type": "object",
        "required": ["name"],
        "properties": {
            "age": {"type": "integer", "minimum": 0},
            "tags": {"type": "array", "items": {"type": "string"}}
        }
    }"#;
    let mut validator = Validator::new();
    let mut found = validator.check(schema, r#"{"age": -1, "tags": ["a", 2]}"#);
    found.sort();
    let expected = [
        ("", "/required"),
        ("/age", "/properties/age/minimum"),
        ("/tags/1", "/properties/tags/items/type"),
    ];
    assert_eq!(found, expected.map(|(i, s)| (i.to_owned(), s.to_owned())));
    assert!(
        validator
            .check(schema, r#"{"name": "x", "tags": []}"#)
            .is_empty()
    );
}

#[test]
fn schema_paths_follow_refs() {
    let schema = r##"{"$defs": {"pos": {"type": "integer", "minimum": 1}}, "properties": {"n": {"$ref": "#/$defs/pos"}}}"##;
    let found = Validator::new().check(schema, r#"{"n": 0}"#);
    assert_eq!(
        found,
        [("/n".to_owned(), "/properties/n/$ref/minimum".to_owned())]
    );
}

#[test]
fn violations_have_messages() {
    let mut validator = Validator::new();
    let compiled = validator
        .compile(r#"{"maxLength": 2}"#, &options(None))
        .unwrap();
    let violations = validator.validate(compiled, r#""abc""#).unwrap();
    assert_eq!(violations.len(), 1);
    assert!(
        violations[0].message.contains('2'),
        "{}",
        violations[0].message
    );
}

#[test]
fn the_default_draft_applies_to_schemas_without_schema_keyword() {
    // Draft 7 reads an `items` array as a tuple; draft 2020-12 spells that `prefixItems`.
    let tuple = r#"{"items": [{"type": "integer"}]}"#;
    let mut validator = Validator::new();
    let compiled = validator
        .compile(tuple, &options(Some(Draft::Draft7)))
        .unwrap();
    assert!(
        validator
            .validate(compiled, r#"[1, "extra is fine"]"#)
            .unwrap()
            .is_empty()
    );
    assert_eq!(validator.validate(compiled, r#"["x"]"#).unwrap().len(), 1);
    // `$schema` wins over the default.
    let draft7 =
        r#"{"$schema": "http://json-schema.org/draft-07/schema#", "items": [{"type": "integer"}]}"#;
    let compiled = validator
        .compile(draft7, &options(Some(Draft::Draft2020)))
        .unwrap();
    assert!(
        validator
            .validate(compiled, r#"[1, "x"]"#)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn format_is_asserted_only_when_asked() {
    let mut validator = Validator::new();
    let schema = r#"{"format": "email"}"#;
    let lenient = validator.compile(schema, &options(None)).unwrap();
    assert!(
        validator
            .validate(lenient, r#""not an email""#)
            .unwrap()
            .is_empty()
    );
    let strict = validator
        .compile(
            schema,
            &CompileOptions {
                assert_format: true,
                ..options(None)
            },
        )
        .unwrap();
    assert_eq!(
        validator
            .validate(strict, r#""not an email""#)
            .unwrap()
            .len(),
        1
    );
    assert!(
        validator
            .validate(strict, r#""ann@example.com""#)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn refs_resolve_against_given_resources_and_never_the_network() {
    let mut validator = Validator::new();
    let schema = r#"{"$ref": "https://schemas.example/point.json"}"#;
    match validator.compile(schema, &options(None)) {
        Err(Error::InvalidSchema(message)) => {
            assert!(message.contains("schemas.example"), "{message}")
        }
        other => panic!("expected invalid-schema, got {other:?}"),
    }
    let resources = vec![(
        "https://schemas.example/point.json".to_owned(),
        r#"{"required": ["x", "y"]}"#.to_owned(),
    )];
    let compiled = validator
        .compile(
            schema,
            &CompileOptions {
                resources,
                ..options(None)
            },
        )
        .unwrap();
    let violations = validator.validate(compiled, r#"{"x": 1}"#).unwrap();
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].instance_path, "");
}

#[test]
fn bad_schemas_and_documents_are_errors() {
    let mut validator = Validator::new();
    assert!(matches!(
        validator.compile("{not json", &options(None)),
        Err(Error::InvalidJson(_))
    ));
    assert!(matches!(
        validator.compile(r#"{"type": 12}"#, &options(None)),
        Err(Error::InvalidSchema(_))
    ));
    let compiled = validator.compile("true", &options(None)).unwrap();
    match validator.validate(compiled, "[1,") {
        Err(Error::InvalidJson(message)) => assert!(message.contains("line 1"), "{message}"),
        other => panic!("expected invalid-json, got {other:?}"),
    }
}

/// What compiles cost, in wasm instructions (fuel is deterministic, time is not). A
/// fresh instance's first compile also compiles boon's metaschemas, about a hundred
/// times the work of the schema itself; a compile of a schema the instance compiled
/// before is a lookup. (Wharf's host runs the component's `wizer-initialize`, and the
/// gateway's, when it derives a serving image, so that fresh instances start past
/// both: host/tests/serving.rs.)
#[test]
fn the_first_compile_compiles_the_metaschemas_and_a_repeated_compile_is_a_lookup() {
    let mut config = wasmtime::Config::new();
    config.consume_fuel(true);
    let engine = wasmtime::Engine::new(&config).unwrap();
    let bytes = wharf_bundled::component("json-schema").unwrap().bytes;
    let component = wasmtime::component::Component::new(&engine, bytes).unwrap();
    let mut linker = wasmtime::component::Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
    let mut store = Store::new(&engine, common::Host::with_env(&[]));
    store.set_fuel(u64::MAX).unwrap();
    let bindings = JsonSchema::instantiate(&mut store, &component, &linker).unwrap();

    let schema = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/gateway/schema.json"),
    )
    .unwrap();
    let compile = |store: &mut Store<common::Host>, options: &CompileOptions| {
        let before = store.get_fuel().unwrap();
        let compiled = bindings
            .wharf_schema_validator()
            .schema()
            .call_compile(&mut *store, &schema, options)
            .unwrap()
            .unwrap();
        let used = before - store.get_fuel().unwrap();
        compiled.resource_drop(&mut *store).unwrap();
        used
    };
    let first = compile(&mut store, &options(None));
    let again = compile(&mut store, &options(None));
    // The same schema with other options is compiled anew, past the metaschemas.
    let mut asserting = options(None);
    asserting.assert_format = true;
    let other = compile(&mut store, &asserting);
    println!(
        "compiling the gateway's schema: {first} instructions first, {again} again, {other} with other options"
    );
    assert!(
        first > other * 10,
        "the first compile took {first} instructions and another {other}: \
         does boon still compile its metaschemas lazily?"
    );
    assert!(
        again * 10 < other,
        "compiling the same schema again took {again} instructions, a new compile {other}: \
         is the compiled schema kept?"
    );
}
