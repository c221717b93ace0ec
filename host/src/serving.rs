//! The serving image of a deployable: the deployable with every plug that exports
//! `wizer-initialize` replaced by a snapshot taken after that initializer ran, so
//! that each fresh instance starts where initialization left off (the json-schema
//! plug with boon's metaschemas and the configured schema compiled, the gateway with
//! its configuration parsed) instead of redoing it on every request.
//!
//! The published deployable stays as it was (within its size budget); the image is
//! derived here, on the serving machine, with the capabilities it is served with,
//! and kept in the compiled-code cache's directory beside the compiled code. Its key
//! is the deployable's digest with a digest of those capabilities (an initializer
//! reads the environment), this crate's version and wasmtime's, so a change of any
//! derives it again.
//!
//! How: wasmtime-wizer cannot snapshot a composed component (its plugs are nested
//! components), so each plug with an initializer is instrumented on its own
//! (wasmtime-wizer's `instrument_component`: the plug then exports accessors of its
//! memories and globals), the composition is rebuilt with the instrumented plugs and
//! with their initializers and accessors exported at its top, instantiated once with
//! the served capabilities, and the initializers are called in instantiation order
//! (a plug before the plugs that import it: the gateway's initializer compiles its
//! schema through the json-schema plug). Each plug's state is then read through its
//! accessors (`snapshot_component`) and the plug is replaced, in the original
//! composition, by its snapshot.
//!
//! What a snapshot may not hold: handles. Resource tables are the host's, not part
//! of any memory, so an initializer must drop the handles it made (the gateway drops
//! the compiled schema; the json-schema plug keeps the compiled schema itself). Every
//! instance gets fresh random numbers from the host (`wasi:random` is never frozen),
//! and std's hash keys are drawn again by every instance (`forget_hash_keys`);
//! what else a plug derived from randomness during initialization (a crate's
//! process-wide seeds, the keys of maps made then) is the snapshot's: chosen on this
//! machine when the image was derived, never published, and the same in every
//! instance of the image.

use std::ops::Range;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmparser::{
    CanonicalFunction, ComponentAlias, ComponentExternalKind, ComponentInstance,
    ComponentOuterAliasKind, Payload,
};
use wasmtime::Store;
use wasmtime::component::{Component, Instance, Lift, WasmList};
use wasmtime_wizer::{ComponentInstanceState, Wizer};

use crate::state::{Host, linker, new_store_seeded};
use crate::{Capabilities, Error, Limits, Runtime};

/// The export a pre-initializer runs (wasmtime-wizer's default name).
pub const PRE_INITIALIZER: &str = "wizer-initialize";

/// The instance wasmtime-wizer's instrumentation exports from each plug.
const WIZER_ACCESS: &str = "wasmtime:wizer/access";

/// What [`Runtime::serving_image`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServingOutcome {
    /// No plug exports an initializer: the deployable serves as it is.
    AsIs,
    /// Derived now: this many plugs were initialized.
    Derived(usize),
    /// Read back from the cache.
    Loaded,
}

/// A nested component at the top level of a composition.
struct Nested {
    /// Its index in the composition's component index space.
    index: u32,
    /// Its bytes.
    range: Range<usize>,
    /// Whether it exports [`PRE_INITIALIZER`].
    initializer: bool,
}

/// The top level of a composition, as far as rebuilding it needs.
struct Composition<'a> {
    bytes: &'a [u8],
    /// Every top-level section but the header, as (id, bytes); nested components
    /// are named by their position in `nested`.
    sections: Vec<Section>,
    nested: Vec<Nested>,
    /// (instance index, component index) of every instantiation.
    instantiations: Vec<(u32, u32)>,
    /// Sizes of the component-level index spaces at the end.
    instances: u32,
    funcs: u32,
    /// Whether the component itself exports [`PRE_INITIALIZER`] (a component
    /// whose nested components export none is pre-initialized whole; a composition
    /// may re-export its socket's, and is pre-initialized plug by plug).
    initializer: bool,
}

enum Section {
    Raw(u8, Range<usize>),
    Nested(usize),
}

use crate::images::{malformed, top_level};

impl<'a> Composition<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let mut this = Composition {
            bytes,
            sections: Vec::new(),
            nested: Vec::new(),
            instantiations: Vec::new(),
            instances: 0,
            funcs: 0,
            initializer: false,
        };
        let mut components = 0u32;
        for payload in top_level(bytes) {
            let payload = payload?;
            match &payload {
                Payload::Version { encoding, .. } => {
                    if *encoding != wasmparser::Encoding::Component {
                        return Err(malformed("a core module, not a component"));
                    }
                    continue;
                }
                Payload::End(_) => break,
                Payload::ComponentSection {
                    unchecked_range, ..
                } => {
                    let range = unchecked_range.start as usize..unchecked_range.end as usize;
                    this.sections.push(Section::Nested(this.nested.len()));
                    this.nested.push(Nested {
                        index: components,
                        initializer: exports_initializer(&bytes[range.clone()])?,
                        range,
                    });
                    components += 1;
                    continue;
                }
                Payload::ComponentImportSection(reader) => {
                    for import in reader.clone() {
                        this.count(import.map_err(malformed)?.ty.kind(), &mut components);
                    }
                }
                Payload::ComponentExportSection(reader) => {
                    // An export adds an item to its index space.
                    for export in reader.clone() {
                        let export = export.map_err(malformed)?;
                        this.initializer |= export.name.name == PRE_INITIALIZER
                            && export.kind == ComponentExternalKind::Func;
                        this.count(export.kind, &mut components);
                    }
                }
                Payload::ComponentAliasSection(reader) => {
                    for alias in reader.clone() {
                        match alias.map_err(malformed)? {
                            ComponentAlias::InstanceExport { kind, .. } => {
                                this.count(kind, &mut components)
                            }
                            ComponentAlias::Outer {
                                kind: ComponentOuterAliasKind::Component,
                                ..
                            } => components += 1,
                            _ => {}
                        }
                    }
                }
                Payload::ComponentInstanceSection(reader) => {
                    for instance in reader.clone() {
                        if let ComponentInstance::Instantiate {
                            component_index, ..
                        } = instance.map_err(malformed)?
                        {
                            this.instantiations.push((this.instances, component_index));
                        }
                        this.instances += 1;
                    }
                }
                Payload::ComponentCanonicalSection(reader) => {
                    for canonical in reader.clone() {
                        if let CanonicalFunction::Lift { .. } = canonical.map_err(malformed)? {
                            this.funcs += 1;
                        }
                    }
                }
                _ => {}
            }
            if let Some((id, range)) = payload.as_section() {
                this.sections
                    .push(Section::Raw(id, range.start as usize..range.end as usize));
            }
        }
        Ok(this)
    }

    fn count(&mut self, kind: ComponentExternalKind, components: &mut u32) {
        match kind {
            ComponentExternalKind::Func => self.funcs += 1,
            ComponentExternalKind::Instance => self.instances += 1,
            ComponentExternalKind::Component => *components += 1,
            _ => {}
        }
    }

    /// The composition with nested component `i` replaced by `replace(i)` where it
    /// returns bytes, then `extra` appended.
    fn rebuild<'b>(
        &self,
        replace: impl Fn(usize) -> Option<&'b [u8]>,
        extra: impl FnOnce(&mut wasm_encoder::Component),
    ) -> Vec<u8> {
        let mut out = wasm_encoder::Component::new();
        for section in &self.sections {
            match section {
                Section::Raw(id, range) => out.section(&wasm_encoder::RawSection {
                    id: *id,
                    data: &self.bytes[range.clone()],
                }),
                Section::Nested(i) => out.section(&wasm_encoder::RawSection {
                    id: wasm_encoder::ComponentSectionId::Component as u8,
                    data: replace(*i).unwrap_or(&self.bytes[self.nested[*i].range.clone()]),
                }),
            };
        }
        extra(&mut out);
        out.finish()
    }
}

/// Whether the component `bytes` exports a function [`PRE_INITIALIZER`] at its top.
fn exports_initializer(bytes: &[u8]) -> Result<bool, Error> {
    for payload in top_level(bytes) {
        if let Payload::ComponentExportSection(reader) = payload? {
            for export in reader {
                let export = export.map_err(malformed)?;
                if export.name.name == PRE_INITIALIZER && export.kind == ComponentExternalKind::Func
                {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

/// The names the rebuilt composition exports plug `k`'s accessors and initializer as.
fn access_name(k: usize) -> String {
    format!("wharf-snapshot-access-p{k}")
}
fn init_name(k: usize) -> String {
    format!("wharf-snapshot-init-p{k}")
}

impl Runtime {
    /// The image to serve `deployable` from with `capabilities`: its plugs that
    /// export `wizer-initialize` pre-initialized (see [the module](self)), from the
    /// cache when it was derived before. A deployable without initializers is
    /// returned as it is.
    pub async fn serving_image(
        &self,
        deployable: &[u8],
        capabilities: &Arc<Capabilities>,
        limits: &Limits,
    ) -> Result<(Vec<u8>, ServingOutcome), Error> {
        let composition = Composition::parse(deployable)?;
        if !composition.initializer && !composition.nested.iter().any(|n| n.initializer) {
            return Ok((deployable.to_vec(), ServingOutcome::AsIs));
        }
        if let Some(cache) = self.cache() {
            cache.ensure_private()?;
        }
        let entry = self.cache().map(|cache| {
            cache
                .dir()
                .join(format!("{}.serving.wasm", key(deployable, capabilities)))
        });
        if let Some(entry) = &entry
            && let Ok(image) = crate::cache::read_verified(entry)
        {
            return Ok((image, ServingOutcome::Loaded));
        }
        let (image, plugs) = self.derive(&composition, capabilities, limits).await?;
        if let (Some(cache), Some(entry)) = (self.cache(), &entry) {
            cache.store(entry, &image)?;
        }
        Ok((image, ServingOutcome::Derived(plugs)))
    }

    /// The compiled serving image of `deployable` with `capabilities`, when this
    /// machine derived and compiled it before: found by the image's recorded digest,
    /// so a restart reads and hashes only the deployable and the compiled artifact,
    /// never the image itself (which only compiling needs). `None` sends the caller
    /// to [`Runtime::serving_image`] and [`Runtime::load`], which derive, compile and
    /// say what they did.
    pub fn cached_serving_component(
        &self,
        deployable: &[u8],
        capabilities: &Capabilities,
    ) -> Option<Component> {
        let cache = self.cache()?;
        let entry = cache
            .dir()
            .join(format!("{}.serving.wasm", key(deployable, capabilities)));
        let image = crate::cache::recorded_digest(&entry).ok()?;
        cache.load_digest(self.engine(), &image)
    }

    async fn derive(
        &self,
        composition: &Composition<'_>,
        capabilities: &Arc<Capabilities>,
        limits: &Limits,
    ) -> Result<(Vec<u8>, usize), Error> {
        let mut wizer = Wizer::new();
        // Removing the initializer's export inside wasmtime-wizer leaves a dangling
        // alias (wasmtime#13168), and the composition may name it: keep it.
        wizer.init_func(PRE_INITIALIZER).keep_init_func(true);
        // `insecure-seed` answers a value drawn for this derivation, so that the hash
        // keys std derives from it can be found in the snapshots (see
        // `forget_hash_keys`).
        let seed = fresh_seed();

        if !composition.nested.iter().any(|n| n.initializer) {
            // A component that exports an initializer itself and has no plugs that
            // do (it is not a composition): instrumented, initialized and
            // snapshotted whole.
            let (cx, instrumented) = wizer
                .instrument_component(composition.bytes)
                .map_err(|e| failed("instrumenting the component", e))?;
            let (mut store, instance) = self
                .instantiate_seeded(&instrumented, capabilities, limits, seed)
                .await?;
            initialize(&mut store, instance, PRE_INITIALIZER, limits).await?;
            let mut access = Access {
                store: &mut store,
                instance,
                export: WIZER_ACCESS.to_owned(),
            };
            let mut image = wizer
                .snapshot_component(&cx, &mut access)
                .await
                .map_err(|e| failed("snapshotting the component", e))?;
            forget_hash_keys(&mut image, seed, "the component");
            return Ok((image, 1));
        }

        // The plugs to initialize, in instantiation order, with their instance.
        let mut plugs = Vec::new();
        for &(instance, component) in &composition.instantiations {
            if let Some(i) = composition
                .nested
                .iter()
                .position(|n| n.index == component && n.initializer)
            {
                plugs.push((i, instance));
            }
        }
        let mut instrumented = Vec::new();
        for &(i, _) in &plugs {
            let bytes = &composition.bytes[composition.nested[i].range.clone()];
            instrumented.push(
                wizer
                    .instrument_component(bytes)
                    .map_err(|e| failed("instrumenting a plug", e))?,
            );
        }

        // The composition with instrumented plugs, their accessors and initializers
        // exported at its top.
        let position = |i: usize| plugs.iter().position(|&(p, _)| p == i);
        let probe = composition.rebuild(
            |i| position(i).map(|k| instrumented[k].1.as_slice()),
            |out| {
                let mut aliases = wasm_encoder::ComponentAliasSection::new();
                let mut exports = wasm_encoder::ComponentExportSection::new();
                for (k, &(_, instance)) in plugs.iter().enumerate() {
                    aliases.alias(wasm_encoder::Alias::InstanceExport {
                        instance,
                        kind: wasm_encoder::ComponentExportKind::Instance,
                        name: WIZER_ACCESS,
                    });
                    aliases.alias(wasm_encoder::Alias::InstanceExport {
                        instance,
                        kind: wasm_encoder::ComponentExportKind::Func,
                        name: PRE_INITIALIZER,
                    });
                    let k32 = k as u32;
                    exports.export(
                        access_name(k),
                        wasm_encoder::ComponentExportKind::Instance,
                        composition.instances + k32,
                        None,
                    );
                    exports.export(
                        init_name(k),
                        wasm_encoder::ComponentExportKind::Func,
                        composition.funcs + k32,
                        None,
                    );
                }
                out.section(&aliases);
                out.section(&exports);
            },
        );
        let (mut store, instance) = self
            .instantiate_seeded(&probe, capabilities, limits, seed)
            .await?;
        for k in 0..plugs.len() {
            initialize(&mut store, instance, &init_name(k), limits).await?;
        }

        let mut snapshots = Vec::new();
        for (k, (cx, _)) in instrumented.iter().enumerate() {
            let mut access = Access {
                store: &mut store,
                instance,
                export: access_name(k),
            };
            let mut snapshot = wizer
                .snapshot_component(cx, &mut access)
                .await
                .map_err(|e| failed("snapshotting a plug", e))?;
            forget_hash_keys(&mut snapshot, seed, &format!("plug {k}"));
            snapshots.push(snapshot);
        }
        let image = composition.rebuild(|i| position(i).map(|k| snapshots[k].as_slice()), |_| {});
        Ok((image, plugs.len()))
    }
}

impl Runtime {
    /// Compiles `bytes` and instantiates it in a store granting `capabilities`,
    /// whose `insecure-seed` answers `seed`. The store is made after the compile, so
    /// that the deadline runs from the instantiation.
    async fn instantiate_seeded(
        &self,
        bytes: &[u8],
        capabilities: &Arc<Capabilities>,
        limits: &Limits,
        seed: u128,
    ) -> Result<(Store<Host>, Instance), Error> {
        let component = Component::new(self.engine(), bytes)
            .map_err(|e| failed("compiling for initialization", e))?;
        let mut store = new_store_seeded(
            self.engine(),
            self.counts_instructions(),
            capabilities,
            limits,
            Some(seed),
        )?;
        let instance = linker(self.engine())?
            .instantiate_async(&mut store, &component)
            .await
            .map_err(|e| failed("instantiating for initialization", e))?;
        Ok((store, instance))
    }
}

fn failed(step: &str, e: wasmtime::Error) -> Error {
    Error::ServingImage(format!("{step}: {e:?}"))
}

/// Calls the initializer `name` exported by `instance`.
async fn initialize(
    store: &mut Store<Host>,
    instance: Instance,
    name: &str,
    limits: &Limits,
) -> Result<(), Error> {
    crate::state::arm_deadline(store, limits.deadline);
    instance
        .get_typed_func::<(), ()>(&mut *store, name)
        .map_err(|e| failed("finding an initializer", e))?
        .call_async(&mut *store, ())
        .await
        .map_err(|e| failed("running an initializer", e))
}

/// 128 bits no other derivation shares, from the operating system's randomness
/// (std seeds its hash keys from it).
fn fresh_seed() -> u128 {
    use std::hash::BuildHasher;
    let keys = std::collections::hash_map::RandomState::new();
    let high = keys.hash_one(std::time::SystemTime::now());
    let low = keys.hash_one(high);
    (u128::from(high) << 64) | u128::from(low)
}

/// Lets every instance draw its own hash keys again.
///
/// Rust's std (wasm32-wasip2) seeds hash maps from `wasi:random/insecure-seed`
/// once per instance and keeps the keys in a thread-local: `(k0 + n, k1)` after `n`
/// maps were made, followed by the thread-local's state byte (1 alive, 0 not yet
/// initialized; std's `thread_local` on targets without threads). Derivation answered
/// `seed`, so that cell is the occurrence of `k1` with the largest `k0 + n` (every
/// map made during initialization keeps an earlier `k0 + i` of its own, which must
/// stay: its contents were hashed with it). Setting the state byte back to 0 makes
/// each instance of the image ask the host for a seed of its own on its first new
/// map. Where the cell cannot be told apart, the keys stay shared by the image's
/// instances, and a warning says so.
fn forget_hash_keys(snapshot: &mut [u8], seed: u128, what: &str) {
    let (k0, k1) = (seed as u64, (seed >> 64) as u64);
    let k1 = k1.to_le_bytes();
    // (n, position of k1, occurrences with that n)
    let mut newest: Option<(u64, usize, usize)> = None;
    for at in 8..snapshot.len().saturating_sub(8) {
        if snapshot[at..at + 8] != k1 {
            continue;
        }
        let first = u64::from_le_bytes(snapshot[at - 8..at].try_into().expect("8 bytes"));
        let n = first.wrapping_sub(k0);
        if n >= 1 << 32 {
            continue;
        }
        newest = match newest {
            Some((m, p, count)) if m > n => Some((m, p, count)),
            Some((m, p, count)) if m == n => Some((m, p, count + 1)),
            _ => Some((n, at, 1)),
        };
    }
    match newest {
        None => tracing::debug!(plug = what, "no hash keys were drawn during initialization"),
        Some((_, at, 1)) if snapshot.get(at + 8) == Some(&1) => {
            snapshot[at + 8] = 0;
            tracing::debug!(plug = what, "hash keys are drawn again by every instance");
        }
        Some(_) => tracing::warn!(
            plug = what,
            "std's hash keys could not be found in the snapshot: every instance of the serving image shares them"
        ),
    }
}

/// The cache key of a serving image: what it is derived from.
fn key(deployable: &[u8], capabilities: &Capabilities) -> String {
    // The capabilities' text holds the environment's values: only its digest is kept.
    let mut inputs = Sha256::new();
    inputs.update(format!(
        "wharf-host {} wasmtime-wizer {}\n{capabilities:?}",
        env!("CARGO_PKG_VERSION"),
        WIZER_VERSION
    ));
    format!(
        "{}-{}",
        hex::encode(Sha256::digest(deployable)),
        &hex::encode(inputs.finalize())[..16]
    )
}

/// wasmtime-wizer's version (released with wasmtime's): a new one may snapshot
/// differently.
const WIZER_VERSION: &str = "48";

/// Reads a plug's state through the accessors the rebuilt composition exports for
/// it (wasmtime-wizer asks for them by the plug's own instance name).
struct Access<'a> {
    store: &'a mut Store<Host>,
    instance: Instance,
    export: String,
}

impl Access<'_> {
    async fn call<R: Lift + Send + Sync + 'static>(&mut self, func: &str) -> R {
        let (_, plug) = self
            .instance
            .get_export(&mut *self.store, None, &self.export)
            .expect("the rebuilt composition exports each plug's accessors");
        let (_, func_index) = self
            .instance
            .get_export(&mut *self.store, Some(&plug), func)
            .expect("wasmtime-wizer names its own accessors");
        let func = self
            .instance
            .get_typed_func::<(), (R,)>(&mut *self.store, func_index)
            .expect("accessors have the types wasmtime-wizer gave them");
        func.call_async(&mut *self.store, ())
            .await
            .expect("an accessor only reads")
            .0
    }
}

impl ComponentInstanceState for Access<'_> {
    async fn call_func_ret_list_u8(
        &mut self,
        _instance: &str,
        func: &str,
        contents: impl FnOnce(&[u8]) + Send,
    ) {
        let list: WasmList<u8> = self.call(func).await;
        contents(list.as_le_slice(&*self.store));
    }

    async fn call_func_ret_s32(&mut self, _instance: &str, func: &str) -> i32 {
        self.call(func).await
    }

    async fn call_func_ret_s64(&mut self, _instance: &str, func: &str) -> i64 {
        self.call(func).await
    }

    async fn call_func_ret_f32(&mut self, _instance: &str, func: &str) -> u32 {
        self.call::<f32>(func).await.to_bits()
    }

    async fn call_func_ret_f64(&mut self, _instance: &str, func: &str) -> u64 {
        self.call::<f64>(func).await.to_bits()
    }
}
