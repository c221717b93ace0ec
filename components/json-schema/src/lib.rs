//! `json-schema`: JSON Schema validation behind `wharf:schema@1.0.0`, on boon (which
//! passes the JSON Schema Test Suite for drafts 2020-12, 2019-09 and 7).
//!
//! A schema is compiled once into a resource and then validates many documents. The
//! compiler never touches the network or the filesystem: every document a `$ref` may
//! reach is handed over in `compile-options.resources`.
//!
//! **Compiled schemas are kept.** boon validates every schema against its draft's
//! metaschema, and compiles all its metaschemas on the first compile in an instance
//! (62.5M wasm instructions); compiling the gateway's own schema costs 0.74M more.
//! So the component keeps what it compiled, by schema text and options, and a second
//! `compile` of the same schema is a lookup. Its `wizer-initialize` export does the
//! metaschemas' compile: Wharf's host runs it (and the gateway's, which compiles the
//! configured schema) once, when it derives the serving image of a deployable, so
//! that every fresh instance starts with both compiled (docs/host.md).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use boon::{Compiler, Draft, OutputError, SchemaIndex, Schemas, UrlLoader};
use serde_json::Value;

wit_bindgen::generate!({
    inline: "
        package wharf:json-schema@1.0.0;
        world json-schema {
            export wharf:schema/types@1.0.0;
            export wharf:schema/validator@1.0.0;
            /// Compiles the metaschemas: run once by a pre-initializer (Wharf's
            /// host, wasmtime-wizer), never needed for correct answers.
            export wizer-initialize: func();
        }
    ",
    path: ["../../wit-packages/schema/1.0.0"],
    generate_all,
});

use exports::wharf::schema::types::{CompileOptions, Draft as WitDraft, Error, Violation};
use exports::wharf::schema::validator::{self, GuestSchema};

/// Where the schema under compilation is registered when it has no `$id` of its own.
const ROOT_URL: &str = "urn:wharf:schema:root";

struct JsonSchema;

impl Guest for JsonSchema {
    fn wizer_initialize() {
        // Any compile loads and compiles every draft's metaschema (boon's
        // `STD_METASCHEMAS`), which then lives in the snapshot.
        let options = CompileOptions {
            default_draft: None,
            resources: Vec::new(),
            assert_format: false,
        };
        assert!(
            Schema::compile("{}".into(), options).is_ok(),
            "the empty schema compiles"
        );
    }
}

/// A loader that refuses every URL: only `resources` are reachable.
struct NoLoader;

impl UrlLoader for NoLoader {
    fn load(&self, url: &str) -> Result<Value, Box<dyn std::error::Error>> {
        Err(format!("`{url}` is not among the resources given to compile").into())
    }
}

fn parse(text: &str) -> Result<Value, Error> {
    serde_json::from_str(text).map_err(|e| Error::InvalidJson(e.to_string()))
}

fn invalid_schema(err: impl std::fmt::Display) -> Error {
    Error::InvalidSchema(format!("{err:#}"))
}

/// A compiled schema: its root in the compiled set.
struct Compiled {
    schemas: Schemas,
    root: SchemaIndex,
}

/// A compiled schema, as handed out: compiles of the same schema share one.
pub struct Schema {
    compiled: Rc<Compiled>,
}

/// How many compiled schemas an instance keeps; past it the oldest go. A caller
/// compiles a handful of schemas (the gateway one); the cap bounds one that compiles
/// a new schema per call.
const KEPT: usize = 16;

thread_local! {
    /// Compiled schemas by [`cache_key`], with the order they were compiled in.
    static COMPILED: RefCell<(BTreeMap<String, (u64, Rc<Compiled>)>, u64)> =
        const { RefCell::new((BTreeMap::new(), 0)) };
}

/// Everything a compile depends on, written out unambiguously (lengths before
/// texts), so that two different inputs never share a key.
fn cache_key(schema: &str, options: &CompileOptions) -> String {
    let mut key = format!(
        "{:?} {} {}:",
        options.default_draft,
        options.assert_format,
        options.resources.len()
    );
    for (uri, text) in &options.resources {
        key.push_str(&format!("{}:{uri}{}:{text}", uri.len(), text.len()));
    }
    key.push_str(schema);
    key
}

fn compile_uncached(schema: &str, options: CompileOptions) -> Result<Compiled, Error> {
    let root = parse(schema)?;
    let mut compiler = Compiler::new();
    compiler.use_loader(Box::new(NoLoader));
    compiler.set_default_draft(match options.default_draft {
        Some(WitDraft::Draft7) => Draft::V7,
        Some(WitDraft::Draft2019) => Draft::V2019_09,
        Some(WitDraft::Draft2020) | None => Draft::V2020_12,
    });
    if options.assert_format {
        compiler.enable_format_assertions();
    }
    for (uri, text) in options.resources {
        let value = serde_json::from_str(&text)
            .map_err(|e| Error::InvalidJson(format!("resource `{uri}`: {e}")))?;
        compiler.add_resource(&uri, value).map_err(invalid_schema)?;
    }
    compiler
        .add_resource(ROOT_URL, root)
        .map_err(invalid_schema)?;
    let mut schemas = Schemas::new();
    let root = compiler
        .compile(ROOT_URL, &mut schemas)
        .map_err(invalid_schema)?;
    Ok(Compiled { schemas, root })
}

impl GuestSchema for Schema {
    fn compile(schema: String, options: CompileOptions) -> Result<validator::Schema, Error> {
        let key = cache_key(&schema, &options);
        if let Some(compiled) =
            COMPILED.with_borrow(|(kept, _)| kept.get(&key).map(|(_, c)| c.clone()))
        {
            return Ok(validator::Schema::new(Schema { compiled }));
        }
        // Errors are not kept: a schema that failed is compiled (and fails) again.
        let compiled = Rc::new(compile_uncached(&schema, options)?);
        COMPILED.with_borrow_mut(|(kept, next)| {
            if kept.len() >= KEPT {
                let oldest = kept
                    .iter()
                    .min_by_key(|(_, (n, _))| *n)
                    .map(|(k, _)| k.clone());
                kept.remove(&oldest.expect("a full cache has an oldest entry"));
            }
            kept.insert(key, (*next, compiled.clone()));
            *next += 1;
        });
        Ok(validator::Schema::new(Schema { compiled }))
    }

    fn validate(&self, document: String) -> Result<Vec<Violation>, Error> {
        let document = parse(&document)?;
        let Err(error) = self
            .compiled
            .schemas
            .validate(&document, self.compiled.root)
        else {
            return Ok(Vec::new());
        };
        let output = error.basic_output();
        let units = match &output.error {
            OutputError::Branch(units) => units.iter().collect(),
            OutputError::Leaf(_) => vec![&output],
        };
        Ok(units
            .into_iter()
            .map(|unit| Violation {
                instance_path: unit.instance_location.to_string(),
                schema_path: unit.keyword_location.clone(),
                message: match &unit.error {
                    OutputError::Leaf(kind) => kind.to_string(),
                    OutputError::Branch(_) => "does not match the schema".to_owned(),
                },
            })
            .collect())
    }
}

impl validator::Guest for JsonSchema {
    type Schema = Schema;
}

export!(JsonSchema);
