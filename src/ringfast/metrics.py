"""Prometheus metrics of one node, in a registry of its own (several nodes may share a
process), rendered by exposition.py. Gauges are read from the node's public API when scraped (its snapshot, mostly:
never its private state); counters are bumped by the protocol.

| metric | type | meaning |
|---|---|---|
| ringfast_is_leader | gauge | 1 on the leader |
| ringfast_epoch | gauge | current epoch |
| ringfast_members | gauge | members in the ring as this node knows it |
| ringfast_partitions_owned | gauge | partitions this node holds |
| ringfast_partitions_unowned | gauge | partitions with no owner (leader's view; 0 elsewhere) |
| ringfast_rebalances_total | counter | assignment computations that moved something (leader) |
| ringfast_rebalance_duration_seconds | histogram | time of each such computation |
| ringfast_partitions_moved_total | counter | partitions given to a new owner (leader) |
| ringfast_heartbeats_received_total | counter | follower heartbeats answered (leader) |
| ringfast_heartbeat_rtt_seconds | histogram | heartbeat round trip (follower) |
| ringfast_leader_changes_total | counter | times this node saw the leader change |
| ringfast_frames_rejected_total{reason} | counter | frames refused by the wire protocol |
| ringfast_peers_refused_total{reason} | counter | peer messages refused for breaking an assumption (settings_mismatch, duplicate_id, duplicate_address, epoch_out_of_range, tls_identity) |
| ringfast_clock_skew_seconds | gauge | largest wall-clock difference to a peer heard from in the last minute (hello, vote request) |
| ringfast_peer_resolve_failures_total{peer} | counter | connect attempts to a peer whose name did not resolve |
| ringfast_journal_write_failures_total | counter | journal records lost to a failing disk |
| ringfast_state_write_failures_total | counter | state-dir writes that failed (no vote, no candidacy) |
| ringfast_monitoring_refused_total{reason} | counter | monitoring connections or requests refused |
| ringfast_engine_connected | gauge | with an engine backend: 1 if the engine answered the last request |
| ringfast_engine_keepalive_rtt_seconds | gauge | with an engine backend: round trip of the last keepalive answered |
"""

from __future__ import annotations

from typing import TYPE_CHECKING


from .assumptions import REFUSAL_REASONS
from .exposition import CONTENT_TYPE, Counter, Gauge, Histogram, Registry

if TYPE_CHECKING:
    from .node import Node

__all__ = ["CONTENT_TYPE", "Metrics", "NoMetrics", "REJECT_REASONS"]
# protocol.ProtocolError reasons, plus connections dropped for saying nothing valid in time
# ("idle") or for arriving while too many such were open ("too_many_pending")
REJECT_REASONS = ("oversized", "truncated", "bad_magic", "version", "cluster", "type", "malformed", "field",
                  "unauthenticated", "idle", "too_many_pending")


class Metrics:
    def __init__(self, node: Node) -> None:
        self.registry = r = Registry()
        Gauge("ringfast_is_leader", "1 if this node is the leader", r, lambda: 1.0 if node.is_leader else 0.0)
        Gauge("ringfast_epoch", "Current epoch (leadership term)", r, lambda: node.epoch)
        Gauge("ringfast_members", "Members in the ring as this node knows it", r, lambda: len(node.snapshot().members))
        Gauge("ringfast_partitions_owned", "Partitions this node holds", r, lambda: len(node.partitions()))
        Gauge("ringfast_partitions_unowned", "Partitions with no owner (leader's view)", r, node.unowned_partitions)
        self.rebalances = Counter("ringfast_rebalances", "Rebalances that moved partitions", r)
        self.rebalance_seconds = Histogram(
            "ringfast_rebalance_duration_seconds", "Duration of a rebalance computation", r,
            buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0))
        self.moved = Counter("ringfast_partitions_moved", "Partitions given to a new owner", r)
        self.heartbeats = Counter("ringfast_heartbeats_received", "Follower heartbeats answered", r)
        self.rtt = Histogram("ringfast_heartbeat_rtt_seconds", "Heartbeat round trip time", r,
                             buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
        self.leader_changes = Counter("ringfast_leader_changes", "Leader changes seen by this node", r)
        self.rejected = Counter("ringfast_frames_rejected", "Frames refused by the wire protocol", r, ["reason"])
        self.journal_failures = Counter("ringfast_journal_write_failures", "Journal records lost to a failing disk", r)
        self.state_failures = Counter("ringfast_state_write_failures",
                                      "State-dir writes that failed (the node then neither votes nor runs)", r)
        # full: no room and nobody to evict; evicted: closed for a newcomer while still waiting
        # for its request; timeout: a request not done in time; idle: no request line in time
        # (a keep-alive connection between requests, say); host: Host header not allowed
        self.monitoring_refused = Counter("ringfast_monitoring_refused", "Monitoring connections or requests refused",
                                          r, ["reason"])
        for reason in ("full", "evicted", "timeout", "idle", "host"):
            self.monitoring_refused.labels(reason=reason)
        for reason in REJECT_REASONS:  # present from the start, so rates work from zero
            self.rejected.labels(reason=reason)
        self.refusals = Counter("ringfast_peers_refused", "Peer messages refused for breaking an assumption",
                                r, ["reason"])
        for reason in REFUSAL_REASONS:
            self.refusals.labels(reason=reason)
        self.clock_skew = Gauge("ringfast_clock_skew_seconds", "Largest wall-clock difference to a peer heard in the last minute", r)
        # labelled by the peer as configured (a seed entry or a member's advertised address:
        # a bounded set), so an operator sees which name is missing from DNS
        self.unresolved = Counter("ringfast_peer_resolve_failures",
                                  "Connect attempts to a peer whose name did not resolve", r, ["peer"])

        if getattr(node.config, "backend", "builtin") != "builtin":
            def engine(field, default=0.0):
                status = node.engine_status()
                value = status.get(field) if status is not None else None
                return default if value is None else float(value)

            Gauge("ringfast_engine_connected", "1 if the engine answered this node's last request", r,
                  lambda: engine("connected"))
            Gauge("ringfast_engine_keepalive_rtt_seconds", "Round trip of the last lease keepalive answered", r,
                  lambda: engine("keepalive_rtt_s"))

    def render(self) -> bytes:
        return self.registry.render()


class NoMetrics:
    """Stands in when the protocol runs without a node (tests, simulation)."""

    def __getattr__(self, name):
        return _Nothing()


class _Nothing:
    def __getattr__(self, name):
        return self

    def __call__(self, *args, **kwargs):
        return self
