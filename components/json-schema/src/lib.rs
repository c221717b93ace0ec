//! `json-schema`: JSON Schema validation behind `wharf:schema@1.0.0`, on boon (which
//! passes the JSON Schema Test Suite for drafts 2020-12, 2019-09 and 7).
//!
//! A schema is compiled once into a resource and then validates many documents. The
//! compiler never touches the network or the filesystem: every document a `$ref` may
//! reach is handed over in `compile-options.resources`.
//!
//! **Pre-initialization.** boon validates every schema against its draft's
//! metaschema, and compiles all its metaschemas on the first compile in an instance:
//! about 7 ms in wasm, paid by every fresh instance. The component exports
//! `wizer-initialize`, which does that first compile. A build with the
//! `pre-initialize` feature (`bundled/build.rs`) runs it once with wasmtime-wizer and
//! ships the snapshot; every build removes the export. See docs/components.md.

use boon::{Compiler, Draft, OutputError, SchemaIndex, Schemas, UrlLoader};
use serde_json::Value;

wit_bindgen::generate!({
    inline: "
        package wharf:json-schema@1.0.0;
        world json-schema {
            export wharf:schema/types@1.0.0;
            export wharf:schema/validator@1.0.0;
            /// For the build's pre-initializer; removed from every shipped build.
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

/// A compiled schema.
pub struct Schema {
    schemas: Schemas,
    root: SchemaIndex,
}

impl GuestSchema for Schema {
    fn compile(schema: String, options: CompileOptions) -> Result<validator::Schema, Error> {
        let root = parse(&schema)?;
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
        Ok(validator::Schema::new(Schema { schemas, root }))
    }

    fn validate(&self, document: String) -> Result<Vec<Violation>, Error> {
        let document = parse(&document)?;
        let Err(error) = self.schemas.validate(&document, self.root) else {
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
