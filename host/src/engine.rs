//! The engine every component runs in: the pooling allocator sized for composed
//! components, epoch interruption driven by a ticker thread, and the compiled-code
//! cache. `wharf run --http` and `--invoke` use the same configuration, so they share
//! cache entries.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::Component;
use wasmtime::{
    Config, Enabled, Engine, Inlining, InstanceAllocationStrategy, PoolingAllocationConfig,
    ProfilingStrategy,
};

use crate::{CacheOutcome, CodeCache, Error, Limits};

/// How often the epoch advances: the granularity of deadlines, and how often a
/// spinning guest yields its thread to other requests.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(5);

/// How much of each linear memory stays mapped between instances: when the kernel
/// can say which pages an instance touched, enough for a Rust guest's stack, data
/// and a small heap; otherwise the first 64 KiB, reset with memset every time.
fn memory_keep_resident() -> usize {
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        4 << 20
    } else {
        64 << 10
    }
}

/// How to size the engine.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Instances alive at once (requests in flight plus reused instances kept warm).
    pub instances: u32,
    /// Memories one component instance may have (a composed deployable has one per
    /// plug, plus shims).
    pub memories_per_component: u32,
    /// Tables one component instance may have.
    pub tables_per_component: u32,
    /// Core instances one component instance may have.
    pub core_instances_per_component: u32,
    /// The largest any one linear memory may grow (the per-instance cap is enforced
    /// over all memories together by the store's limiter).
    pub max_memory: u64,
    /// Where compiled code is kept; `None` compiles in memory every time.
    pub cache: Option<CodeCache>,
    /// Count the wasm instructions each request runs (wasmtime's fuel), into the
    /// `wharf_host_guest_instructions_total` metric: a deterministic measure of the
    /// guest's work, for tests and profiling; guests run slower with it.
    pub count_instructions: bool,
    /// Tell a native profiler where guest code is, as `wasmtime run --profile` does.
    pub profile: Profile,
}

/// How the engine describes guest code to a native profiler.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Profile {
    /// No description: `perf` shows guest code as `[JIT]` addresses.
    #[default]
    None,
    /// `/tmp/perf-<pid>.map`, which `perf report` reads for function names.
    PerfMap,
    /// `jit-<pid>.dump` in the working directory, for `perf inject --jit`.
    JitDump,
}

impl RuntimeOptions {
    /// Options sized for serving under `limits`, cached in the default directory.
    pub fn for_limits(limits: &Limits) -> Self {
        Self {
            // Requests in flight, plus headroom for reused or prewarmed instances.
            instances: (limits.max_concurrency as u32).saturating_mul(2).max(8),
            memories_per_component: 16,
            tables_per_component: 64,
            core_instances_per_component: 128,
            max_memory: limits.max_memory,
            cache: CodeCache::default_dir().map(CodeCache::new),
            count_instructions: false,
            profile: Profile::None,
        }
    }
}

/// An engine with its epoch ticker and code cache.
pub struct Runtime {
    engine: Engine,
    cache: Option<CodeCache>,
    counts_instructions: bool,
    ticker: Arc<AtomicBool>,
}

impl Runtime {
    /// Builds the engine and starts its epoch ticker (stopped when dropped). Refuses a
    /// cache directory this process must not trust ([`CodeCache::ensure_private`]).
    pub fn new(options: &RuntimeOptions) -> Result<Self, Error> {
        if let Some(cache) = &options.cache {
            cache.ensure_private()?;
        }
        let mut pool = PoolingAllocationConfig::default();
        let instances = options.instances.max(1);
        let memories = instances.saturating_mul(options.memories_per_component);
        let tables = instances.saturating_mul(options.tables_per_component);
        let core = instances.saturating_mul(options.core_instances_per_component);
        pool.total_component_instances(instances)
            .total_core_instances(core)
            .total_memories(memories)
            .total_tables(tables)
            .total_stacks(instances)
            .max_memories_per_component(options.memories_per_component)
            .max_tables_per_component(options.tables_per_component)
            .max_core_instances_per_component(options.core_instances_per_component)
            .max_memory_size(options.max_memory.min(usize::MAX as u64) as usize)
            // Composed components carry many lifted and lowered functions.
            .max_component_instance_size(4 << 20)
            .max_core_instance_size(1 << 20)
            // Keep the pages an instance touched mapped when its slot is freed, and
            // reset them in place, so that the next instance does not fault them
            // in again. With Linux's PAGEMAP_SCAN (6.7+) only the pages actually
            // touched are reset, anywhere in the first MEMORY_KEEP_RESIDENT bytes
            // (a Rust guest's stack ends at 1 MiB, its heap starts above it);
            // without it, the first 64 KiB are reset with memset and the rest is
            // returned to the kernel.
            .pagemap_scan(Enabled::Auto)
            .linear_memory_keep_resident(memory_keep_resident())
            .table_keep_resident(16 << 10);

        let mut config = Config::new();
        config
            .epoch_interruption(true)
            .consume_fuel(options.count_instructions)
            .profiler(match options.profile {
                Profile::None => ProfilingStrategy::None,
                Profile::PerfMap => ProfilingStrategy::PerfMap,
                Profile::JitDump => ProfilingStrategy::JitDump,
            })
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            // Cranelift inlines small functions within a plug and the canonical ABI's
            // glue across plugs: +7% requests/s with reused instances, +2-3% fresh, on
            // the composed gateway (docs/host.md); the compiled code is cached.
            .compiler_inlining(Inlining::Yes);
        let engine = Engine::new(&config).map_err(|e| Error::Engine(format!("{e:?}")))?;

        let ticker = Arc::new(AtomicBool::new(true));
        let running = ticker.clone();
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("wharf-epoch".into())
            .spawn(move || {
                while running.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })?;
        Ok(Self {
            engine,
            cache: options.cache.clone(),
            counts_instructions: options.count_instructions,
            ticker,
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Whether the engine counts the wasm instructions guests run
    /// ([`RuntimeOptions::count_instructions`]).
    pub fn counts_instructions(&self) -> bool {
        self.counts_instructions
    }

    /// The code cache, if one is configured.
    pub fn cache(&self) -> Option<&CodeCache> {
        self.cache.as_ref()
    }

    /// The compiled component: mapped from the cache when a valid entry exists,
    /// otherwise compiled (and stored, when a cache is configured).
    pub fn load(&self, component: &[u8]) -> Result<(Component, CacheOutcome), Error> {
        match &self.cache {
            Some(cache) => cache.load(&self.engine, component),
            None => Ok((
                crate::cache::compile(&self.engine, component)?,
                CacheOutcome::Uncached,
            )),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker.store(false, Ordering::Relaxed);
    }
}

impl Runtime {
    /// A fresh store for calling a component directly (`wharf run --invoke`): the
    /// same capabilities, memory cap and deadline as a served request.
    pub fn store(
        &self,
        capabilities: &Arc<crate::Capabilities>,
        limits: &Limits,
    ) -> Result<wasmtime::Store<crate::Host>, Error> {
        crate::state::new_store(&self.engine, self.counts_instructions, capabilities, limits)
    }
}
