//! Which core modules of a component get a copy-on-write memory image.
//!
//! wasmtime maps a module's initial memory from an image shared by every instance
//! (copy-on-write) when its data segments allow it; otherwise each instantiation
//! copies the segments in, which for a pre-initialized plug is its whole heap on
//! every request. The conditions, as wasmtime 48 checks them at compile time
//! (`try_static_init`): every segment writes a memory the module defines, at a
//! constant offset, within the memory's initial size; and each memory's image is
//! dense (its span under twice the data it holds) or under
//! [`DENSE_IMAGE_ALWAYS`] bytes.

use wasmparser::{Chunk, DataKind, Operator, Parser, Payload};

use crate::Error;

/// wasmtime's `memory_guaranteed_dense_image_size` default: an image this small is
/// used however sparse it is.
pub const DENSE_IMAGE_ALWAYS: u64 = 16 << 20;

/// The core modules of `component` (nested ones included) that would fall back to
/// copying their data segments at every instantiation, each with the reason: empty
/// when every module gets a copy-on-write image.
pub fn copy_on_write_fallbacks(component: &[u8]) -> Result<Vec<String>, Error> {
    let mut fallbacks = Vec::new();
    let mut modules = 0;
    walk(component, &mut modules, &mut fallbacks)?;
    Ok(fallbacks)
}

pub(crate) fn malformed(e: impl std::fmt::Display) -> Error {
    Error::Compile(format!("reading the component: {e}"))
}

/// The top-level payloads of `bytes` (a component or a module), up to its end:
/// nested modules and components are stepped over unread (each payload has their
/// range, relative to `bytes`).
pub(crate) fn top_level(bytes: &[u8]) -> impl Iterator<Item = Result<Payload<'_>, Error>> {
    let mut parser = Parser::new(0);
    let mut offset = 0;
    let mut ended = false;
    std::iter::from_fn(move || {
        if ended {
            return None;
        }
        let payload = match parser.parse(&bytes[offset..], true) {
            Ok(Chunk::Parsed { consumed, payload }) => {
                offset += consumed;
                payload
            }
            Ok(Chunk::NeedMoreData(_)) => {
                ended = true;
                return Some(Err(malformed("truncated")));
            }
            Err(e) => {
                ended = true;
                return Some(Err(malformed(e)));
            }
        };
        match &payload {
            Payload::ModuleSection {
                unchecked_range, ..
            }
            | Payload::ComponentSection {
                unchecked_range, ..
            } => offset += (unchecked_range.end - unchecked_range.start) as usize,
            Payload::End(_) => ended = true,
            _ => {}
        }
        Some(Ok(payload))
    })
}

/// Visits the modules in `bytes` (a component or a module), in order.
fn walk(bytes: &[u8], modules: &mut usize, fallbacks: &mut Vec<String>) -> Result<(), Error> {
    for payload in top_level(bytes) {
        match payload? {
            Payload::Version {
                encoding: wasmparser::Encoding::Module,
                ..
            } => {
                let index = *modules;
                *modules += 1;
                if let Some(reason) = module_fallback(bytes)? {
                    fallbacks.push(format!("core module {index}: {reason}"));
                }
                return Ok(());
            }
            Payload::ModuleSection {
                unchecked_range, ..
            }
            | Payload::ComponentSection {
                unchecked_range, ..
            } => walk(
                &bytes[unchecked_range.start as usize..unchecked_range.end as usize],
                modules,
                fallbacks,
            )?,
            _ => {}
        }
    }
    Ok(())
}

/// Why the module `bytes` gets no copy-on-write image, if it does not.
fn module_fallback(bytes: &[u8]) -> Result<Option<String>, Error> {
    // (initial bytes, defined) of each memory, imported ones first.
    let mut memories: Vec<(u64, bool)> = Vec::new();
    // (data bytes, lowest address, highest end) of each memory's segments.
    let mut spans: Vec<(u64, u64, u64)> = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(malformed)? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    if let wasmparser::TypeRef::Memory(memory) = import.map_err(malformed)?.ty {
                        memories.push((initial_bytes(&memory), false));
                    }
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader {
                    memories.push((initial_bytes(&memory.map_err(malformed)?), true));
                }
            }
            Payload::DataSection(reader) => {
                spans.resize(memories.len(), (0, u64::MAX, 0));
                for (i, data) in reader.into_iter().enumerate() {
                    let data = data.map_err(malformed)?;
                    let DataKind::Active {
                        memory_index,
                        offset_expr,
                    } = data.kind
                    else {
                        continue;
                    };
                    let memory = memory_index as usize;
                    let Some(&(initial, defined)) = memories.get(memory) else {
                        return Err(malformed("a data segment names no memory"));
                    };
                    if !defined {
                        return Ok(Some(format!("data segment {i} writes an imported memory")));
                    }
                    let mut ops = offset_expr.get_operators_reader();
                    let start = match (
                        ops.read().map_err(malformed)?,
                        ops.read().map_err(malformed)?,
                    ) {
                        (Operator::I32Const { value }, Operator::End) => u64::from(value as u32),
                        (Operator::I64Const { value }, Operator::End) => value as u64,
                        _ => {
                            return Ok(Some(format!(
                                "data segment {i} has an offset that is not a constant"
                            )));
                        }
                    };
                    let len = data.data.len() as u64;
                    let end = start.saturating_add(len);
                    if end > initial {
                        return Ok(Some(format!(
                            "data segment {i} ends at {end}, past memory {memory}'s initial {initial} bytes"
                        )));
                    }
                    if len == 0 {
                        continue;
                    }
                    let span = &mut spans[memory];
                    span.0 += len;
                    span.1 = span.1.min(start);
                    span.2 = span.2.max(end);
                }
            }
            _ => {}
        }
    }
    for (memory, &(data, low, high)) in spans.iter().enumerate() {
        if data == 0 {
            continue;
        }
        let image = high - low;
        if image >= data.saturating_mul(2) && image >= DENSE_IMAGE_ALWAYS {
            return Ok(Some(format!(
                "memory {memory}'s image spans {image} bytes for {data} bytes of data (too sparse)"
            )));
        }
    }
    Ok(None)
}

fn initial_bytes(memory: &wasmparser::MemoryType) -> u64 {
    let page = memory.page_size_log2.map_or(65536, |log2| 1u64 << log2);
    memory.initial.saturating_mul(page)
}
