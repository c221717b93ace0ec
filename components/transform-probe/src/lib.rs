//! `transform-probe`: a test plug for the Wharf host, composed between the gateway
//! and json-transform (or around another transform-probe). It exports
//! `wharf:transform/transformer` by calling the one it imports, and makes two things
//! about its instance visible from outside:
//!
//! - **what carries over**: `apply` answers `{"calls": N, "output": <the inner
//!   answer>}`, N counting the calls this instance has served (1 in a fresh instance);
//! - **memory**: with `TRANSFORM_PROBE_HOLD_MIB=N` in the environment, each call first
//!   allocates N MiB in this plug's own linear memory and holds it until it returns,
//!   so that a composition with two probes grows two memories.

use std::cell::Cell;

wit_bindgen::generate!({
    inline: "
        package wharf:transform-probe@0.1.0;
        world transform-probe {
            import wharf:transform/transformer@1.0.0;
            export wharf:transform/types@1.0.0;
            export wharf:transform/transformer@1.0.0;
        }
    ",
    path: ["../../wit-packages/transform/1.0.0"],
    generate_all,
});

use exports::wharf::transform::types as outer;
use wharf::transform::transformer as inner;
use wharf::transform::types as inner_types;

struct Probe;

thread_local! {
    static CALLS: Cell<u64> = const { Cell::new(0) };
}

impl exports::wharf::transform::transformer::Guest for Probe {
    fn apply(document: String, steps: Vec<outer::Step>) -> Result<String, outer::Error> {
        let calls = CALLS.with(|c| {
            c.set(c.get() + 1);
            c.get()
        });
        let held = hold();
        let steps: Vec<_> = steps.into_iter().map(step).collect();
        let output = inner::apply(&document, &steps).map_err(error)?;
        std::hint::black_box(held);
        Ok(format!("{{\"calls\":{calls},\"output\":{output}}}"))
    }

    fn canonicalize(document: String) -> Result<String, outer::Error> {
        inner::canonicalize(&document).map_err(error)
    }
}

/// `TRANSFORM_PROBE_HOLD_MIB` mebibytes of this plug's memory, every page written
/// (an allocation the host refuses aborts the guest: a trap).
fn hold() -> Vec<u8> {
    let mib: usize = std::env::var("TRANSFORM_PROBE_HOLD_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut held = vec![0u8; mib << 20];
    for page in held.chunks_mut(64 << 10) {
        page[0] = 1;
    }
    held
}

/// The same step in the imported interface's types.
fn step(step: outer::Step) -> inner_types::Step {
    match step {
        outer::Step::NormalizeWhitespace => inner_types::Step::NormalizeWhitespace,
        outer::Step::Canonicalize => inner_types::Step::Canonicalize,
        outer::Step::Pick(pointers) => inner_types::Step::Pick(pointers),
        outer::Step::Drop(pointers) => inner_types::Step::Drop(pointers),
        outer::Step::Rename(r) => inner_types::Step::Rename(inner_types::Rename {
            from: r.from,
            to: r.to,
        }),
        outer::Step::Redact(r) => inner_types::Step::Redact(inner_types::Redact {
            pointers: r.pointers,
            replacement: r.replacement,
        }),
    }
}

/// The inner error in the exported interface's types.
fn error(error: inner_types::Error) -> outer::Error {
    match error {
        inner_types::Error::InvalidJson(message) => outer::Error::InvalidJson(message),
        inner_types::Error::InvalidStep(e) => outer::Error::InvalidStep(outer::StepError {
            index: e.index,
            pointer: e.pointer,
            message: e.message,
        }),
    }
}

export!(Probe);
