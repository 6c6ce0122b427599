"""Counters, gauges and histograms in Prometheus' text format (version 0.0.4), for /metrics.

Why not prometheus_client: importing it costs a node about 0.13 s of CPU at start (it
pulls in http.server and more), which is most of a cold start's boot when five nodes start
at once on two cores, and ringfast needs only the three types below, one registry per node
and the text format. tests/unit/test_exposition.py reads this output with prometheus_client's
own parser (a test dependency only), so what Prometheus sees is checked, not assumed.

Values are changed from the node's event loop only (the ring's thread); a scrape reads
them from the monitoring server, which may be another thread: a float read is atomic
under the GIL, and a scrape that straddles an update sees the old value or the new one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _labels(pairs: Sequence[tuple[str, str]]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape_label(v)}"' for k, v in pairs) + "}"


class Registry:
    """The metrics of one node, rendered in the order they were registered."""

    def __init__(self) -> None:
        self._metrics: list[_Metric] = []

    def add(self, metric: _Metric) -> None:
        if any(m.name == metric.name for m in self._metrics):
            raise ValueError(f"metric {metric.name!r} is registered twice")
        self._metrics.append(metric)

    def render(self) -> bytes:
        lines: list[str] = []
        for m in self._metrics:
            lines.append(f"# HELP {m.name} {_escape_help(m.documentation)}")
            lines.append(f"# TYPE {m.name} {m.kind}")
            lines.extend(m.samples())
        return ("\n".join(lines) + "\n").encode()


class _Metric:
    kind = ""

    def __init__(self, name: str, documentation: str, registry: Registry) -> None:
        self.name, self.documentation = name, documentation
        registry.add(self)

    def samples(self) -> list[str]:
        raise NotImplementedError


class Gauge(_Metric):
    """A value set by the node, or read from `function` at each scrape."""

    kind = "gauge"

    def __init__(self, name: str, documentation: str, registry: Registry,
                 function: Callable[[], float] | None = None) -> None:
        super().__init__(name, documentation, registry)
        self._value = 0.0
        self._function = function

    def set(self, value: float) -> None:
        self._value = float(value)

    def samples(self) -> list[str]:
        value = self._function() if self._function is not None else self._value
        return [f"{self.name} {_number(value)}"]


class _Count:
    """One counter series; `inc` only ever adds (a counter never goes down)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError(f"a counter only goes up: inc({amount!r})")
        self.value += amount


class Counter(_Metric):
    """A counter, exported as `<name>_total`; with `labelnames`, one series per label
    value set, made by `labels(...)` (callers create the known ones up front so that rates
    work from zero)."""

    kind = "counter"

    def __init__(self, name: str, documentation: str, registry: Registry,
                 labelnames: Sequence[str] = ()) -> None:
        super().__init__(name + "_total", documentation, registry)
        self._labelnames = tuple(labelnames)
        self._series: dict[tuple[str, ...], _Count] = {} if labelnames else {(): _Count()}

    def labels(self, **values: str) -> _Count:
        if set(values) != set(self._labelnames):
            raise ValueError(f"{self.name} takes the labels {self._labelnames}, got {tuple(values)}")
        key = tuple(str(values[n]) for n in self._labelnames)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Count()
        return series

    def inc(self, amount: float = 1.0) -> None:
        if self._labelnames:
            raise ValueError(f"{self.name} has labels {self._labelnames}: use labels(...).inc()")
        self._series[()].inc(amount)

    @property
    def value(self) -> float:
        return sum(s.value for s in self._series.values())

    def samples(self) -> list[str]:
        return [f"{self.name}{_labels(list(zip(self._labelnames, key)))} {_number(s.value)}"
                for key, s in list(self._series.items())]


class Histogram(_Metric):
    """Observations counted into cumulative buckets (upper bounds, `+Inf` added)."""

    kind = "histogram"

    def __init__(self, name: str, documentation: str, registry: Registry, buckets: Sequence[float]) -> None:
        super().__init__(name, documentation, registry)
        bounds = [float(b) for b in buckets]
        if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
            raise ValueError(f"histogram {name!r}: buckets must be strictly increasing, got {list(buckets)}")
        if not bounds or bounds[-1] != math.inf:
            bounds.append(math.inf)
        self._bounds = bounds
        self._counts = [0] * len(bounds)  # per bucket, not cumulative: summed when rendered
        self._sum = 0.0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self._bounds):
            if value <= bound:
                self._counts[i] += 1
                break
        else:  # NaN: counted, as prometheus_client does, in +Inf only
            self._counts[-1] += 1
        self._sum += value

    def samples(self) -> list[str]:
        out, running = [], 0
        for bound, count in zip(self._bounds, list(self._counts)):
            running += count
            out.append(f'{self.name}_bucket{{le="{_number(bound)}"}} {_number(running)}')
        out.append(f"{self.name}_count {_number(running)}")
        out.append(f"{self.name}_sum {_number(self._sum)}")
        return out
