//! Prometheus metrics of a served component, in their own registry so that a
//! process serving several components (or tests) never mixes them up.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// The counters and histograms of one served component.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Responses by status code.
    pub requests: IntCounterVec,
    /// Time from accepting the request to the response head, seconds.
    pub latency: Histogram,
    /// Time to instantiate the component for a request, seconds.
    pub instantiation: Histogram,
    /// Time in each phase of a request, seconds, by phase: `store` (a fresh store
    /// and its WASI context), `instantiate` (the instance, guest start-up included),
    /// `handler` (the guest's call up to its response head), `response` (from the
    /// response head until the guest has written its body and returned).
    pub phases: HistogramVec,
    /// Wasm instructions the guest ran, instantiation included, when the runtime
    /// counts them ([`RuntimeOptions::count_instructions`](crate::RuntimeOptions)).
    pub instructions: IntCounter,
    /// Calls that trapped (deadline and memory traps included).
    pub traps: IntCounter,
    /// Requests stopped by a limit, by limit: `deadline`, `memory`, `request_body`,
    /// `response_body`, `concurrency`.
    pub limit_hits: IntCounterVec,
    /// Components compiled (cache misses and rebuilt entries).
    pub compilations: IntCounter,
    /// Requests holding a concurrency slot: from the slot's grant until the guest
    /// returned (its body written) or was stopped.
    pub in_flight: IntGauge,
    /// Requests waiting for a concurrency slot.
    pub waiting: IntGauge,
    /// Times a guest grew a linear memory while handling a request (instantiation
    /// excluded): each growth remaps memory and faults in zeroed pages, so a serving
    /// image should leave its plugs enough heap that a request never grows one.
    pub memory_growths: IntCounter,
    /// Fresh instances made ahead of their request, waiting for it.
    pub ready: IntGauge,
    /// Requests served by an instance made ahead of them (the rest made theirs when
    /// they arrived, or reused one).
    pub prewarmed: IntCounter,
}

impl Metrics {
    /// Fresh metrics in a registry of their own.
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("wharf_host_requests_total", "Responses by status code"),
            &["status"],
        )
        .expect("valid metric");
        let latency = Histogram::with_opts(
            HistogramOpts::new(
                "wharf_host_request_duration_seconds",
                "Time from accepting a request to its response head",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5, 5.0, 10.0,
            ]),
        )
        .expect("valid metric");
        let instantiation = Histogram::with_opts(
            HistogramOpts::new(
                "wharf_host_instantiation_seconds",
                "Time to instantiate the component for one request",
            )
            .buckets(vec![
                0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01,
            ]),
        )
        .expect("valid metric");
        let phases = HistogramVec::new(
            HistogramOpts::new(
                "wharf_host_phase_seconds",
                "Time in each phase of a request: store, instantiate, handler, response",
            )
            .buckets(vec![
                0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                0.005, 0.01, 0.1, 1.0,
            ]),
            &["phase"],
        )
        .expect("valid metric");
        let instructions = IntCounter::new(
            "wharf_host_guest_instructions_total",
            "Wasm instructions guests ran (counted only when asked: it slows them)",
        )
        .expect("valid metric");
        let traps = IntCounter::new("wharf_host_traps_total", "Guest calls that trapped")
            .expect("valid metric");
        let limit_hits = IntCounterVec::new(
            Opts::new("wharf_host_limit_hits_total", "Requests stopped by a limit"),
            &["limit"],
        )
        .expect("valid metric");
        let compilations = IntCounter::new(
            "wharf_host_compilations_total",
            "Components compiled because no valid cache entry existed",
        )
        .expect("valid metric");
        let in_flight = IntGauge::new(
            "wharf_host_requests_in_flight",
            "Requests holding a concurrency slot (their guest is running)",
        )
        .expect("valid metric");
        let waiting = IntGauge::new(
            "wharf_host_requests_waiting",
            "Requests waiting for a concurrency slot",
        )
        .expect("valid metric");
        let memory_growths = IntCounter::new(
            "wharf_host_memory_growths_total",
            "Linear memory growths during requests (instantiation excluded)",
        )
        .expect("valid metric");
        let ready = IntGauge::new(
            "wharf_host_instances_ready",
            "Fresh instances made ahead of their request, waiting for it",
        )
        .expect("valid metric");
        let prewarmed = IntCounter::new(
            "wharf_host_prewarmed_total",
            "Requests served by a fresh instance made ahead of them",
        )
        .expect("valid metric");
        for metric in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(instantiation.clone()),
            Box::new(phases.clone()),
            Box::new(instructions.clone()),
            Box::new(traps.clone()),
            Box::new(limit_hits.clone()),
            Box::new(compilations.clone()),
            Box::new(in_flight.clone()),
            Box::new(waiting.clone()),
            Box::new(memory_growths.clone()),
            Box::new(ready.clone()),
            Box::new(prewarmed.clone()),
        ] {
            registry.register(metric).expect("metric names are unique");
        }
        Self {
            registry,
            requests,
            latency,
            instantiation,
            phases,
            instructions,
            traps,
            limit_hits,
            compilations,
            in_flight,
            waiting,
            memory_growths,
            ready,
            prewarmed,
        }
    }

    /// The metrics in Prometheus's text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("encoding to memory cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }

    pub(crate) fn phase(&self, phase: &str, took: std::time::Duration) {
        self.phases
            .with_label_values(&[phase])
            .observe(took.as_secs_f64());
    }

    pub(crate) fn limit(&self, which: &str) {
        self.limit_hits.with_label_values(&[which]).inc();
    }
}

/// One count in a gauge for as long as it lives: a request waiting for, or holding,
/// a concurrency slot, however it ends.
pub(crate) struct Counted(IntGauge);

impl Counted {
    pub(crate) fn new(gauge: &IntGauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
