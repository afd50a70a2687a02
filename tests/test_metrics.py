"""The metrics registry writes the Prometheus text format by hand: check the format itself."""

from __future__ import annotations

import re
import threading

import pytest

from dealroom.metrics import Counter, Gauge, Histogram, Registry

SAMPLE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? '
    r"(-?[0-9.e+]+|NaN|[+-]Inf)$"
)


def exposition_is_well_formed(text: str) -> None:
    assert text.endswith("\n")
    declared: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _hash, _type, name, kind = line.split(" ")
            assert kind in {"counter", "gauge", "histogram"}
            assert name not in declared, f"{name} declared twice"
            declared[name] = kind
            continue
        assert SAMPLE.match(line), line
        name = line.split("{")[0].split(" ")[0]
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in declared or declared.get(base) == "histogram", line


def test_counter_gauge_histogram_exposition():
    registry = Registry()
    hits = registry.register(Counter("app_hits_total", "Hits.", ("route",)))
    depth = registry.register(Gauge("app_depth", "Depth."))
    latency = registry.register(Histogram("app_seconds", "Latency.", ("route",), (0.1, 1.0)))
    hits.labels(route="a").inc()
    hits.labels(route="a").inc(2)
    hits.labels(route='we"ird\\\n').inc()
    depth.set(5)
    depth.dec()
    for value in (0.05, 0.5, 0.5, 3.0):
        latency.labels(route="a").observe(value)
    text = registry.render()
    exposition_is_well_formed(text)
    assert 'app_hits_total{route="a"} 3' in text
    assert 'app_hits_total{route="we\\"ird\\\\\\n"} 1' in text
    assert "app_depth 4" in text
    assert 'app_seconds_bucket{route="a",le="0.1"} 1' in text
    assert 'app_seconds_bucket{route="a",le="1"} 3' in text
    assert 'app_seconds_bucket{route="a",le="+Inf"} 4' in text
    assert 'app_seconds_count{route="a"} 4' in text
    assert 'app_seconds_sum{route="a"} 4.05' in text
    assert "# TYPE app_seconds histogram" in text


def test_counters_only_go_up_and_labels_must_match():
    registry = Registry()
    hits = registry.register(Counter("app_hits_total", "Hits.", ("route",)))
    with pytest.raises(ValueError):
        hits.labels(route="a").inc(-1)
    with pytest.raises(ValueError):
        hits.labels(route="a").set(3)
    with pytest.raises(ValueError):
        hits.labels(other="a")
    with pytest.raises(ValueError):
        Counter("bad name", "x")
    with pytest.raises(ValueError):
        Counter("ok_name", "x", ("le",))
    with pytest.raises(ValueError):
        Histogram("ok_name", "x", buckets=(1.0, 0.5))


def test_declaring_a_metric_twice_returns_the_first_and_a_clash_is_refused():
    registry = Registry()
    first = registry.register(Counter("app_x_total", "X."))
    assert registry.register(Counter("app_x_total", "X.")) is first
    with pytest.raises(ValueError):
        registry.register(Gauge("app_x_total", "X."))
    with pytest.raises(ValueError):
        registry.register(Counter("app_x_total", "X.", ("route",)))


def test_updates_from_many_threads_are_not_lost():
    registry = Registry()
    hits = registry.register(Counter("app_hits_total", "Hits."))

    def work() -> None:
        for _ in range(10_000):
            hits.inc()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert hits.value() == 40_000


def test_the_app_registry_is_well_formed(client):
    # Every metric the app declares (ours and other modules') renders validly.
    from dealroom import metrics

    client.get("/healthz")
    exposition_is_well_formed(metrics.render(client.app.state.services))
