//! `json-transform` against `wharf:transform`: the RFC 8785 test vectors, and each step
//! kind, alone and in sequence.

mod common;

use std::fs;

use common::bindings::transform::JsonTransform;
use common::bindings::transform::exports::wharf::transform::types::{
    Error, Redact, Rename, Step, StepError,
};

use wasmtime::Store;

struct Transform {
    store: Store<common::Host>,
    bindings: JsonTransform,
}

impl Transform {
    fn new() -> Self {
        let (mut store, linker) = common::store_and_linker();
        let bindings =
            JsonTransform::instantiate(&mut store, &common::bundled("json-transform"), &linker)
                .unwrap();
        Self { store, bindings }
    }

    fn apply(&mut self, document: &str, steps: &[Step]) -> Result<String, Error> {
        self.bindings
            .wharf_transform_transformer()
            .call_apply(&mut self.store, document, steps)
            .unwrap()
    }

    fn canonicalize(&mut self, document: &str) -> Result<String, Error> {
        self.bindings
            .wharf_transform_transformer()
            .call_canonicalize(&mut self.store, document)
            .unwrap()
    }
}

fn pointers(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn rfc8785_test_vectors_canonicalize_byte_for_byte() {
    let dir = common::shared_dir().join("testdata/rfc8785/testdata");
    let mut transform = Transform::new();
    let mut checked = 0;
    for entry in fs::read_dir(dir.join("input")).unwrap() {
        let input = entry.unwrap().path();
        let name = input.file_name().unwrap();
        let expected = fs::read_to_string(dir.join("output").join(name)).unwrap();
        let document = fs::read_to_string(&input).unwrap();
        assert_eq!(
            transform.canonicalize(&document).unwrap(),
            expected,
            "{}",
            name.to_string_lossy()
        );
        // The `canonicalize` step gives the same bytes.
        assert_eq!(
            transform.apply(&document, &[Step::Canonicalize]).unwrap(),
            expected
        );
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} RFC 8785 vectors found");
}

#[test]
fn without_canonicalize_member_order_is_kept() {
    let mut transform = Transform::new();
    let out = transform
        .apply(r#"{ "b": 1, "a": [1.50, 2] }"#, &[])
        .unwrap();
    assert_eq!(out, r#"{"b":1,"a":[1.5,2]}"#);
}

#[test]
fn normalize_whitespace_trims_and_collapses_string_values_only() {
    let mut transform = Transform::new();
    let out = transform
        .apply(
            r#"{" key ": "  hello \t\n  world ", "list": [" a  b ", 3]}"#,
            &[Step::NormalizeWhitespace],
        )
        .unwrap();
    assert_eq!(out, r#"{" key ":"hello world","list":["a b",3]}"#);
}

#[test]
fn pick_keeps_only_the_pointed_values_at_their_places() {
    let mut transform = Transform::new();
    let doc = r#"{"user":{"id":7,"email":"a@b.c","name":"Ann"},"items":[{"sku":"x","qty":1},{"sku":"y","qty":2}],"debug":true}"#;
    let out = transform
        .apply(
            doc,
            &[Step::Pick(pointers(&[
                "/user/id",
                "/items/1/sku",
                "/missing",
                "/items/0",
            ]))],
        )
        .unwrap();
    assert_eq!(
        out,
        r#"{"user":{"id":7},"items":[{"sku":"x","qty":1},{"sku":"y"}]}"#
    );
    assert_eq!(
        transform
            .apply(doc, &[Step::Pick(pointers(&["/nothing"]))])
            .unwrap(),
        "{}"
    );
    assert_eq!(
        transform
            .apply(doc, &[Step::Pick(pointers(&[""]))])
            .unwrap(),
        doc
    );
}

#[test]
fn drop_removes_values_and_skips_missing_ones() {
    let mut transform = Transform::new();
    let out = transform
        .apply(
            r#"{"a":1,"b":{"c":2,"d":3},"e":[1,2,3]}"#,
            &[Step::Drop(pointers(&["/b/c", "/e/0", "/zzz"]))],
        )
        .unwrap();
    assert_eq!(out, r#"{"a":1,"b":{"d":3},"e":[2,3]}"#);
}

#[test]
fn rename_moves_values_creating_parents() {
    let mut transform = Transform::new();
    let rename = |from: &str, to: &str| {
        Step::Rename(Rename {
            from: from.into(),
            to: to.into(),
        })
    };
    let out = transform
        .apply(r#"{"user_id":7,"x":1}"#, &[rename("/user_id", "/user/id")])
        .unwrap();
    assert_eq!(out, r#"{"x":1,"user":{"id":7}}"#);
    // Missing sources are skipped; arrays insert and append as JSON Patch does.
    let out = transform
        .apply(
            r#"{"a":[1,2],"v":0,"w":9}"#,
            &[
                rename("/nope", "/x"),
                rename("/v", "/a/0"),
                rename("/w", "/a/-"),
            ],
        )
        .unwrap();
    assert_eq!(out, r#"{"a":[0,1,2,9]}"#);
    // ~1 and ~0 escape `/` and `~`.
    let out = transform
        .apply(
            r#"{"a/b":1,"c~d":2}"#,
            &[rename("/a~1b", "/ab"), rename("/c~0d", "/cd")],
        )
        .unwrap();
    assert_eq!(out, r#"{"ab":1,"cd":2}"#);
}

#[test]
fn redact_replaces_values_with_the_marker() {
    let mut transform = Transform::new();
    let step = Step::Redact(Redact {
        pointers: pointers(&["/card/number", "/ssn", "/none"]),
        replacement: "***".into(),
    });
    let out = transform
        .apply(
            r#"{"card":{"number":"4111","exp":"12/30"},"ssn":{"n":1}}"#,
            &[step],
        )
        .unwrap();
    assert_eq!(
        out,
        r#"{"card":{"number":"***","exp":"12/30"},"ssn":"***"}"#
    );
}

#[test]
fn steps_apply_in_order_and_canonicalize_shapes_the_output() {
    let mut transform = Transform::new();
    let steps = [
        Step::Rename(Rename {
            from: "/Name".into(),
            to: "/name".into(),
        }),
        Step::NormalizeWhitespace,
        Step::Pick(pointers(&["/name", "/z", "/amount"])),
        Step::Canonicalize,
    ];
    let out = transform
        .apply(
            r#"{"z":1e2,"Name":"  Ann   Lee ","amount":1.000,"secret":"s"}"#,
            &steps,
        )
        .unwrap();
    assert_eq!(out, r#"{"amount":1,"name":"Ann Lee","z":100}"#);
}

#[test]
fn invalid_json_is_reported_with_its_position() {
    let mut transform = Transform::new();
    match transform.apply("{\"a\": [1, 2}", &[]) {
        Err(Error::InvalidJson(message)) => assert!(message.contains("line 1"), "{message}"),
        other => panic!("expected invalid-json, got {other:?}"),
    }
    assert!(matches!(
        transform.canonicalize(""),
        Err(Error::InvalidJson(_))
    ));
}

#[test]
fn bad_steps_name_their_index_and_pointer() {
    let mut transform = Transform::new();
    let steps = [
        Step::NormalizeWhitespace,
        Step::Drop(pointers(&["/ok", "no-slash"])),
    ];
    match transform.apply("{}", &steps) {
        Err(Error::InvalidStep(StepError { index, pointer, .. })) => {
            assert_eq!((index, pointer.as_str()), (1, "no-slash"));
        }
        other => panic!("expected invalid-step, got {other:?}"),
    }
    let bad_escape = [Step::Pick(pointers(&["/a~2"]))];
    assert!(matches!(
        transform.apply("{}", &bad_escape),
        Err(Error::InvalidStep(StepError { index: 0, .. }))
    ));
    // A path through a scalar cannot be created.
    let through_scalar = [Step::Rename(Rename {
        from: "/a".into(),
        to: "/b/c".into(),
    })];
    match transform.apply(r#"{"a":1,"b":"text"}"#, &through_scalar) {
        Err(Error::InvalidStep(StepError {
            index: 0,
            pointer,
            message,
        })) => {
            assert_eq!(pointer, "/b/c");
            assert!(message.contains("scalar"), "{message}");
        }
        other => panic!("expected invalid-step, got {other:?}"),
    }
}
