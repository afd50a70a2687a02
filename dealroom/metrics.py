"""Prometheus metrics in the text exposition format (version 0.0.4), without a client library.

Any module declares what it measures once, at import time, and updates it where things happen:

    from dealroom import metrics

    EVENTS = metrics.counter(
        "dealroom_tracking_events_total", "Tracking events by outcome.", ("outcome",)
    )
    EVENTS.labels(outcome="accepted").inc()

    # A value computed when /metrics is read (it gets the app's Services):
    metrics.collect(
        "dealroom_tracking_buffer_depth", "Events accepted, not yet written.", lambda s: buffer.depth()
    )

Where the numbers come from, with several processes (docker-compose runs two replicas, each one
uvicorn process): counters, gauges and histograms live in the memory of the process that served
the request or holds the connection, so each process's /metrics reports only its own traffic and
its own open streams, and starts from zero when it restarts (Prometheus' `rate()` handles resets).
Scrape every process (in compose, each `app` replica at :8000) and `sum()` over instances.
Scrape-time collectors that read the shared database (export runs by status) report the same
figure from every process: aggregate those with `max()`, not `sum()`.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

log = logging.getLogger("dealroom.metrics")

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Seconds; request latencies of pages and API calls (targets: p95 < 100 ms for pages).
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LabelValues = tuple[str, ...]
# What a collector returns: one value, or values by label values (a tuple, or a plain string
# when the metric has one label).
Collected = float | int | Mapping[Any, float | int]


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{name}="{_escape(value)}"' for name, value in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class Metric:
    kind = ""

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        if not _NAME.match(name):
            raise ValueError(f"invalid metric name {name!r}")
        for label in labels:
            if not _LABEL.match(label) or label.startswith("__") or label == "le":
                raise ValueError(f"invalid label name {label!r}")
        self.name = name
        self.help = help
        self.label_names = tuple(labels)
        self._lock = threading.Lock()

    def _key(self, values: Mapping[str, object]) -> LabelValues:
        if set(values) != set(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}, got {sorted(values)}")
        return tuple(str(values[name]) for name in self.label_names)

    def header(self) -> list[str]:
        help_text = self.help.replace("\\", r"\\").replace("\n", r"\n")
        return [f"# HELP {self.name} {help_text}", f"# TYPE {self.name} {self.kind}"]

    def lines(self) -> list[str]:
        raise NotImplementedError


class _Value:
    """One time series of a counter or a gauge."""

    def __init__(self, metric: _Scalar, key: LabelValues) -> None:
        self._metric = metric
        self._key = key

    def inc(self, amount: float = 1.0) -> None:
        self._metric._add(self._key, amount)

    def dec(self, amount: float = 1.0) -> None:
        self._metric._add(self._key, -amount)

    def set(self, value: float) -> None:
        if not isinstance(self._metric, Gauge):
            raise ValueError("a counter cannot be set")
        self._metric._set(self._key, value)


class _Scalar(Metric):
    """A counter or a gauge: one number per label combination."""

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help, labels)
        self._values: dict[LabelValues, float] = {}
        if not self.label_names:
            self._values[()] = 0.0

    def labels(self, **values: object) -> _Value:
        return _Value(self, self._key(values))

    def inc(self, amount: float = 1.0) -> None:
        self._add((), amount)

    def _add(self, key: LabelValues, amount: float) -> None:
        if amount < 0 and not isinstance(self, Gauge):
            raise ValueError("a counter only goes up")
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def _set(self, key: LabelValues, value: float) -> None:
        with self._lock:
            self._values[key] = value

    def value(self, **labels: object) -> float:
        """The current value (tests read it)."""
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def lines(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [
            f"{self.name}{_labels(self.label_names, key)} {_number(value)}" for key, value in items
        ]


class Counter(_Scalar):
    kind = "counter"


class Gauge(_Scalar):
    kind = "gauge"

    def dec(self, amount: float = 1.0) -> None:
        self._add((), -amount)

    def set(self, value: float) -> None:
        self._set((), value)


class Histogram(Metric):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        help: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        super().__init__(name, help, labels)
        if list(buckets) != sorted(set(buckets)) or not buckets:
            raise ValueError("buckets must be increasing")
        self.buckets = tuple(float(b) for b in buckets)
        # Per series: count in each bucket (not cumulative), then sum and count.
        self._series: dict[LabelValues, tuple[list[int], list[float]]] = {}

    def labels(self, **values: object) -> _Observer:
        return _Observer(self, self._key(values))

    def observe(self, value: float) -> None:
        self._observe((), value)

    def _observe(self, key: LabelValues, value: float) -> None:
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = ([0] * len(self.buckets), [0.0, 0.0])
            counts, totals = series
            for index, bound in enumerate(self.buckets):
                if value <= bound:
                    counts[index] += 1
                    break
            totals[0] += value
            totals[1] += 1

    def count(self, **labels: object) -> int:
        with self._lock:
            series = self._series.get(self._key(labels))
            return int(series[1][1]) if series else 0

    def lines(self) -> list[str]:
        with self._lock:
            items = sorted((key, (list(c), list(t))) for key, (c, t) in self._series.items())
        out = []
        for key, (counts, (total, count)) in items:
            cumulative = 0
            for bound, in_bucket in zip(self.buckets, counts, strict=True):
                cumulative += in_bucket
                le = f'le="{_number(bound) if bound.is_integer() else repr(bound)}"'
                out.append(f"{self.name}_bucket{_labels(self.label_names, key, le)} {cumulative}")
            inf = 'le="+Inf"'
            out.append(f"{self.name}_bucket{_labels(self.label_names, key, inf)} {int(count)}")
            out.append(f"{self.name}_sum{_labels(self.label_names, key)} {_number(total)}")
            out.append(f"{self.name}_count{_labels(self.label_names, key)} {int(count)}")
        return out


class _Observer:
    def __init__(self, metric: Histogram, key: LabelValues) -> None:
        self._metric = metric
        self._key = key

    def observe(self, value: float) -> None:
        self._metric._observe(self._key, value)


class Collector(Metric):
    """A metric computed at scrape time by `fn(services)`."""

    def __init__(
        self,
        name: str,
        help: str,
        fn: Callable[[Any], Collected],
        labels: Sequence[str] = (),
        kind: str = "gauge",
    ) -> None:
        super().__init__(name, help, labels)
        if kind not in ("gauge", "counter"):
            raise ValueError("a collector is a gauge or a counter")
        self.kind = kind
        self.fn = fn

    def collect(self, source: Any) -> list[str]:
        result = self.fn(source)
        if isinstance(result, Mapping):
            pairs = sorted(
                ((key if isinstance(key, tuple) else (key,)), float(value))
                for key, value in result.items()
            )
        else:
            pairs = [((), float(result))]
        return [
            f"{self.name}{_labels(self.label_names, tuple(map(str, key)))} {_number(value)}"
            for key, value in pairs
        ]


class Registry:
    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}
        self._lock = threading.Lock()
        self.collector_errors = Counter(
            "dealroom_metrics_collector_errors_total",
            "Scrape-time collectors that raised (their metric is left out of that scrape).",
            ("metric",),
        )
        self._metrics[self.collector_errors.name] = self.collector_errors
        start = time.time()
        self.register(
            Collector(
                "dealroom_process_start_time_seconds",
                "When this process started (Unix time): each process reports its own numbers.",
                lambda _source: start,
            )
        )

    def register(self, metric: Metric) -> Any:
        """Add `metric`; declaring the same name again with the same type and labels returns
        the existing one (a module imported twice, or two apps in one process), anything else
        is a programming error."""
        with self._lock:
            existing = self._metrics.get(metric.name)
            if existing is None:
                self._metrics[metric.name] = metric
                return metric
        if type(existing) is type(metric) and existing.label_names == metric.label_names:
            if isinstance(existing, Collector) and isinstance(metric, Collector):
                existing.fn = metric.fn  # the newest app's callback wins
            return existing
        raise ValueError(f"metric {metric.name} is already registered as another kind")

    def get(self, name: str) -> Metric | None:
        return self._metrics.get(name)

    def render(self, source: Any = None) -> str:
        """The exposition text; `source` (the app's Services) is handed to collectors."""
        with self._lock:
            metrics = sorted(self._metrics.values(), key=lambda m: m.name)
        # Collectors first, so a failure is already counted in this scrape's error counter.
        collected: dict[str, list[str]] = {}
        for metric in metrics:
            if isinstance(metric, Collector):
                try:
                    collected[metric.name] = metric.collect(source)
                except Exception:  # noqa: BLE001 - one broken collector must not break the scrape
                    log.exception("metrics collector %s failed", metric.name)
                    self.collector_errors.labels(metric=metric.name).inc()
        out: list[str] = []
        for metric in metrics:
            if isinstance(metric, Collector) and metric.name not in collected:
                continue
            out.extend(metric.header())
            out.extend(collected[metric.name] if isinstance(metric, Collector) else metric.lines())
        return "\n".join(out) + "\n"

    def unregister(self, name: str) -> None:
        """Forget a metric (tests that register their own)."""
        with self._lock:
            self._metrics.pop(name, None)


REGISTRY = Registry()


def counter(name: str, help: str, labels: Sequence[str] = ()) -> Counter:
    metric: Counter = REGISTRY.register(Counter(name, help, labels))
    return metric


def gauge(name: str, help: str, labels: Sequence[str] = ()) -> Gauge:
    metric: Gauge = REGISTRY.register(Gauge(name, help, labels))
    return metric


def histogram(
    name: str, help: str, labels: Sequence[str] = (), buckets: Sequence[float] = DEFAULT_BUCKETS
) -> Histogram:
    metric: Histogram = REGISTRY.register(Histogram(name, help, labels, buckets))
    return metric


def collect(
    name: str,
    help: str,
    fn: Callable[[Any], Collected],
    labels: Sequence[str] = (),
    *,
    kind: str = "gauge",
) -> Collector:
    """Register a value computed at scrape time: `fn(services)` returns a number, or a mapping
    from label values (a tuple, or a string for one label) to numbers. It runs in a worker
    thread, so it may query the database (`with services.db.session(write=False) as s: ...`)."""
    metric: Collector = REGISTRY.register(Collector(name, help, fn, labels, kind))
    return metric


def render(source: Any = None) -> str:
    return REGISTRY.render(source)


# ---------------------------------------------------------------- what every process measures

HTTP_REQUESTS = counter(
    "dealroom_http_requests_total",
    "HTTP requests answered, by route name, method and status code.",
    ("route", "method", "status"),
)
HTTP_DURATION = histogram(
    "dealroom_http_request_duration_seconds",
    "Time to answer, by route name and method (server-sent event streams are left out).",
    ("route", "method"),
)
HTTP_IN_FLIGHT = gauge(
    "dealroom_http_requests_in_flight", "Requests being answered by this process right now."
)
SSE_CONNECTIONS = gauge(
    "dealroom_sse_connections",
    "Open server-sent event streams (live chat) held by this process, by side.",
    ("side",),
)


# ---------------------------------------------------------------- read from the database


def export_runs_by_status(services: Any) -> dict[str, int]:
    """CRM export runs by status, over every organisation (the same in every process)."""
    from sqlalchemy import func
    from sqlmodel import select

    from .exports import STATUSES, ExportRun

    counts = dict.fromkeys(STATUSES, 0)
    with services.db.session(write=False) as session:
        query = select(ExportRun.status, func.count()).group_by(ExportRun.status)
        for status, count in session.exec(query):
            counts[str(status)] = int(count)
    return counts


EXPORT_RUNS = collect(
    "dealroom_export_runs",
    "CRM export runs in the database by status, all organisations (same value from every "
    "process: aggregate with max()).",
    export_runs_by_status,
    ("status",),
)


def iter_names(text: str) -> Iterable[str]:
    """Metric names with samples in an exposition text (tests use it)."""
    for line in text.splitlines():
        if line and not line.startswith("#"):
            yield re.split(r"[{ ]", line, maxsplit=1)[0]
