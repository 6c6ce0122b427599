"""Refusals of peers that break an assumption (ringfast.assumptions), and their logging."""

from __future__ import annotations

import logging

from ..assumptions import WALL_SKEW_WARN, conflicts, printable

log = logging.getLogger(__name__)

SKEW_MEMORY = 60.0  # seconds a peer's wall-clock difference counts in ringfast_clock_skew_seconds


class Guard:
    """Part of `Ring` (ring/core.py): the state it reads and writes is the Ring's."""

    def _log_once(self, key, level, fmt, *args):
        if key in self.logged:
            return
        if len(self.logged) > 10_000:  # bounded: a hostile peer cannot grow it forever
            self.logged.clear()
        self.logged.add(key)
        log.log(level, fmt, *args)

    def _refuse(self, link, peer: str, reason: str, detail: str):
        """Ignore a peer's message that breaks an assumption, count it, log it once, and
        tell the peer why (so its operator sees it on both sides)."""
        self.metrics.refusals.labels(reason=reason).inc()
        self._log_once(("refuse", peer, reason, detail), logging.ERROR, "refusing node %s: %s: %s",
                       printable(peer), reason, detail)
        self._reply(link, "refused", {**self._common(), "reason": reason, "detail": detail[:300],
                                        "voters": list(self.seeds)})

    def _note_known(self, body, now) -> bool:
        """Remember where the sender of a hello or vote request is. A second process with
        the id of one heard from lately at another address (another incarnation) is not
        taken for it: its address would replace the live one's (for ranks, early elections
        and whom a new leader tells), and it would keep the live one's entry fresh. The first
        stays until it has been silent for a failure timeout; False for the second (the
        leader refuses it outright: Ring.receive)."""
        sender = body["from"]
        old = self.known.get(sender)
        if old is not None and old[0] != body["addr"] and old[3] != body["inc"] and now - old[2] < self.L:
            self.metrics.refusals.labels(reason="duplicate_id").inc()
            self._log_once(("dup_known", sender, body["addr"]), logging.ERROR,
                           "node id %s heard from two processes, at %s and at %s: keeping %s until it has been "
                           "silent for a failure timeout; give every process its own NODE_ID",
                           printable(sender), old[0], printable(body["addr"]), old[0])
            return False
        self.known[sender] = (body["addr"], body["priority"], now, body["inc"])
        return True

    def _check_conflict(self, link, body, now, dialed=None):
        """A peer whose settings make two rings possible stops every election for a failure
        timeout: a voter of ours (by the address it says it has, or the one we reached it
        at), or one that counts us among its voters. Both sides must stop: in a botched
        rollout the nodes restarted with a voter set of their own do not list the others,
        only the others list them."""
        addr = body.get("addr") or dialed
        theirs = body.get("voters") or ()
        if addr == self.addr or (addr not in self.seeds and self.addr not in theirs):
            return
        why = conflicts(self.fp, self.seeds, body["cfg"], body.get("voters"))
        if why is None:
            return
        self.conflict_until = now + self.L
        self._log_once(("conflict", addr, why), logging.CRITICAL,
                       "node %s (%s) runs conflicting settings: %s; no election until they agree",
                       addr, printable(body["from"]), why)

    def _on_refused(self, link, body, now, dialed=None):
        self.refusal = (body["from"], body["reason"], body["detail"])
        self._log_once(("refused", body["from"], body["reason"], body["detail"]), logging.ERROR,
                       "node %s refused this node: %s: %s", printable(body["from"]), printable(body["reason"]),
                       printable(body["detail"], 300))
        if body["reason"] == "settings_mismatch":
            self._check_conflict(link, {**body, "addr": None}, now, dialed)

    def _check_wall(self, peer: str, wall_ms: int):
        """Note how far `peer`'s wall clock is from ours. The gauge shows the largest
        difference among the peers heard within SKEW_MEMORY, not the last one's: a single
        skewed peer among honest ones would otherwise show only now and then."""
        skew = wall_ms / 1000 - self.wall()
        now = self.clock()
        # (hellos and vote requests only: a handful per peer while there is no leader)
        self.wall_skews = {p: e for p, e in self.wall_skews.items() if now - e[1] <= SKEW_MEMORY and p != peer}
        self.wall_skews[peer] = (abs(skew), now)
        self.metrics.clock_skew.set(max(s for s, _ in self.wall_skews.values()))
        if abs(skew) > WALL_SKEW_WARN:
            self._log_once(("skew", peer), logging.WARNING,
                           "wall clock of node %s differs from ours by %.1fs: without a state dir, epochs "
                           "(fencing tokens) start from wall clocks and may go backwards", printable(peer), skew)
