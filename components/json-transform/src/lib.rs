//! `json-transform`: JSON payload transformation behind `wharf:transform@1.0.0`.
//!
//! Steps work on a parsed document that keeps its member order; the output is compact
//! JSON, or RFC 8785 canonical JSON ([`canonical`]) when a `canonicalize` step is
//! present.

mod canonical;
mod pointer;

use pointer::{Pointer, Selection};
use serde_json::Value;

wit_bindgen::generate!({
    inline: "
        package wharf:json-transform@1.0.0;
        world json-transform {
            export wharf:transform/types@1.0.0;
            export wharf:transform/transformer@1.0.0;
        }
    ",
    path: ["../../wit-packages/transform/1.0.0"],
    generate_all,
});

use exports::wharf::transform::types::{Error, Step, StepError};

struct JsonTransform;

fn parse(document: &str) -> Result<Value, Error> {
    serde_json::from_str(document).map_err(|e| Error::InvalidJson(e.to_string()))
}

fn canonical(value: &Value) -> Result<String, Error> {
    Ok(canonical::to_string(value))
}

/// Runs the steps; `index` and the pointer at fault go into the error.
fn apply(mut doc: Value, steps: &[Step]) -> Result<(Value, bool), Error> {
    let mut canonicalize = false;
    for (index, step) in steps.iter().enumerate() {
        let fail = |pointer: &str, message: String| {
            Error::InvalidStep(StepError {
                index: index as u32,
                pointer: pointer.to_owned(),
                message,
            })
        };
        let parse_all = |pointers: &[String]| -> Result<Vec<Pointer>, Error> {
            pointers
                .iter()
                .map(|p| Pointer::parse(p).map_err(|m| fail(p, m)))
                .collect()
        };
        match step {
            Step::NormalizeWhitespace => normalize_whitespace(&mut doc),
            Step::Canonicalize => canonicalize = true,
            Step::Pick(pointers) => {
                let mut selection = Selection::default();
                for pointer in parse_all(pointers)? {
                    selection.insert(&pointer.0);
                }
                let empty = match &doc {
                    Value::Array(_) => Value::Array(Vec::new()),
                    _ => Value::Object(Default::default()),
                };
                doc = selection.prune(doc).unwrap_or(empty);
            }
            Step::Drop(pointers) => {
                for pointer in parse_all(pointers)? {
                    if pointer.is_root() {
                        doc = Value::Null;
                    } else {
                        pointer::remove(&mut doc, &pointer.0);
                    }
                }
            }
            Step::Rename(rename) => {
                let from = Pointer::parse(&rename.from).map_err(|m| fail(&rename.from, m))?;
                let to = Pointer::parse(&rename.to).map_err(|m| fail(&rename.to, m))?;
                if from.is_root() {
                    return Err(fail(
                        &rename.from,
                        "the whole document cannot be moved".into(),
                    ));
                }
                if let Some(value) = pointer::remove(&mut doc, &from.0) {
                    pointer::add(&mut doc, &to.0, value).map_err(|m| fail(&rename.to, m))?;
                }
            }
            Step::Redact(redact) => {
                for pointer in parse_all(&redact.pointers)? {
                    if let Some(value) = pointer::get_mut(&mut doc, &pointer.0) {
                        *value = Value::String(redact.replacement.clone());
                    }
                }
            }
        }
    }
    Ok((doc, canonicalize))
}

/// Trims every string value and collapses each run of Unicode whitespace to one space.
fn normalize_whitespace(value: &mut Value) {
    match value {
        Value::String(s) => {
            if !is_normalized(s) {
                *s = s.split_whitespace().collect::<Vec<_>>().join(" ");
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_whitespace),
        Value::Object(map) => map.values_mut().for_each(normalize_whitespace),
        _ => {}
    }
}

/// Whether `s` is already trimmed, with single spaces between its words (most
/// strings are: they are left as they are, without building a new one).
fn is_normalized(s: &str) -> bool {
    let mut after_space = true;
    for c in s.chars() {
        if c == ' ' {
            if after_space {
                return false;
            }
            after_space = true;
        } else if c.is_whitespace() {
            return false;
        } else {
            after_space = false;
        }
    }
    !after_space || s.is_empty()
}

impl exports::wharf::transform::transformer::Guest for JsonTransform {
    fn apply(document: String, steps: Vec<Step>) -> Result<String, Error> {
        let (doc, canonicalize) = apply(parse(&document)?, &steps)?;
        if canonicalize {
            canonical(&doc)
        } else {
            Ok(doc.to_string())
        }
    }

    fn canonicalize(document: String) -> Result<String, Error> {
        canonical(&parse(&document)?)
    }
}

export!(JsonTransform);
