"""Prometheus metrics, one CollectorRegistry per app (several apps can live in one process).

With ``--workers N`` every worker process counts on its own; a scrape sees the worker that
answered it."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 24, 32, 48, 64, 128, 256, 512, 1024)


class ServeMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "tunelab_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "tunelab_http_request_duration_seconds",
            "Time to answer an HTTP request, by route and status.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "tunelab_batch_size", "Texts per model call (dynamic micro-batches).", buckets=BATCH_BUCKETS, registry=r
        )
        self.inference = Histogram(
            "tunelab_inference_duration_seconds",
            "Time per model call: tokenize, forward, decode.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.texts = Counter("tunelab_texts_predicted", "Texts predicted.", registry=r)
        self.model_loaded = Gauge("tunelab_model_loaded", "1 once the model is loaded and warm.", registry=r)
        self.queued = Gauge("tunelab_queued_texts", "Texts waiting for a model call.", registry=r)
        self.timeouts = Counter(
            "tunelab_http_timeouts",
            "Requests cut short by a timeout, by phase: header (connection closed), body (408), deadline (504).",
            ["phase"],
            registry=r,
        )
        for phase in ("header", "body", "deadline"):
            self.timeouts.labels(phase)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        labels = (route, method, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.inference.observe(seconds)

    def observe_timeout(self, phase: str) -> None:
        self.timeouts.labels(phase).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
