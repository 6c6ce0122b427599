"""The leader's partition table: every partition's handoff lifecycle in one place.

Each partition slot is in exactly one state (`Slot`). Every change of state goes through
`PartitionTable._move`, which looks the change up in `TRANSITIONS` and refuses any other:
a change the table does not list is a bug in the protocol, and failing loudly (the node
stops leading) is safer than handing a partition out twice.

    FREE ──assign──> ASSIGNING ──confirmed──> OWNED
     ^  ^                │   \\                  │
     │  │              revoke  adopt...          revoke
     │  │                v                       v
     │  └──released── REVOKING <─────────────────┘
     │        (or RESERVED for a restarting holder, FREE when its grace ends)
     └──lease_ended── WAITING <──lost── ASSIGNING | OWNED | REVOKING

- FREE: nobody holds it and no lease on it can still run. Only here (or RESERVED, for the
  member it is reserved for) may it be assigned.
- WAITING: its holder was lost (dropped, timed out, a new leader's start): a lease it was
  given may still run until `until`, which is its last renewal plus a lease plus the clock
  drift margin. It becomes FREE when that time has passed, never earlier, and only once a
  quorum of voters is proven to have still followed this leader after it (`proven`): a
  newer leader, elected at once after connections closed, may have adopted the partition
  from its holder, whose hold it then renewed; no newer leader existed before `proven`.
- RESERVED: its holder released it to restart (leave with restart): kept for that member
  until `until` (the rejoin grace), then FREE. Released means no lease runs on it.
- ASSIGNING: given to `holder` with an assign numbered `assign_mseq`, not yet confirmed.
- OWNED: the holder reported holding it after seeing the assign.
- REVOKING: asked back with a revoke numbered `revoke_mseq` (first sent at `revoke_sent`:
  asking again changes neither), not yet answered. An answer to an earlier revoke never
  releases it.
- A partition a member reports holding with a fencing token no older than the newest we
  know, while we think nobody holds it, is adopted (it held it under an earlier leader).

Invariants (`check`): a slot has a holder exactly when it is ASSIGNING, OWNED or REVOKING;
the per-member index agrees with the slots; fencing tokens only grow per partition; an
assignment happens only from FREE (or the holder's own RESERVED) once `until` has passed.
"""

from __future__ import annotations

import enum

from .errors import RingfastError

GEN_BITS = 31  # fencing token = epoch << GEN_BITS | generation


def token_of(epoch: int, generation: int) -> int:
    """The fencing token of the `generation`th assignment of a partition in `epoch`."""
    return (epoch << GEN_BITS) | generation


class InvariantError(RingfastError, AssertionError):
    """The partition table was asked for a change its lifecycle does not allow (a bug)."""


class Slot(enum.Enum):
    FREE = "free"
    WAITING = "waiting"
    RESERVED = "reserved"
    ASSIGNING = "assigning"
    OWNED = "owned"
    REVOKING = "revoking"


F, W, R, A, O, V = Slot.FREE, Slot.WAITING, Slot.RESERVED, Slot.ASSIGNING, Slot.OWNED, Slot.REVOKING
HELD = frozenset((A, O, V))

# (state, event) -> the next state. The only table of partition handoffs in ringfast.
TRANSITIONS: dict[tuple[Slot, str], Slot] = {
    (F, "assign"): A,  # only once `until` has passed (checked in assign)
    (R, "assign"): A,  # only to the member it is reserved for
    (A, "confirmed"): O,  # the holder reported it after seeing the assign
    (V, "confirmed"): V,  # confirmed after we asked it back: still to be revoked
    (A, "revoke"): V,
    (O, "revoke"): V,
    (V, "revoke"): V,  # asked again (a resend, a reconnect): keeps the first number
    (A, "released"): F,  # the holder says it does not hold it, or it left before taking it
    (O, "released"): F,
    (V, "released"): F,  # the revoke was answered: its handlers returned
    (A, "released_for_restart"): R,
    (O, "released_for_restart"): R,
    (V, "released_for_restart"): R,
    (A, "lost"): W,  # the holder was dropped: its lease may still run
    (O, "lost"): W,
    (V, "lost"): W,
    (W, "lease_ended"): F,
    (W, "ours_released"): F,  # the new leader held it as a follower and its handlers returned
    (R, "grace_ended"): F,
    (F, "adopt"): O,  # a member holds it from an earlier leader (token no older than ours)
    (W, "adopt"): O,
    (R, "adopt"): O,
}


class Entry:
    """One partition slot. Fields other than `state` mean something only in some states."""

    __slots__ = ("state", "holder", "token", "gen", "until", "reserved_for",
                 "assign_mseq", "revoke_mseq", "revoke_sent")

    def __init__(self, until: float | None) -> None:
        self.state = W  # a new leader first waits for what earlier leases may still cover
        until = float("-inf") if until is None else until
        self.holder: str | None = None
        self.token = 0  # the newest fencing token known for it: older claims are stale
        self.gen = 0  # assignments made in this epoch
        self.until = until  # WAITING: when the lease surely ended; RESERVED: end of the grace
        self.reserved_for: str | None = None
        self.assign_mseq = 0  # ASSIGNING (or REVOKING before confirmed): its assign's number
        self.revoke_mseq = 0  # REVOKING: the number of the first revoke of this round
        self.revoke_sent = 0.0  # REVOKING: when it was first asked (the handler timeout counts from it)


class PartitionTable:
    """The leader's table of `num_partitions` slots for one epoch."""

    def __init__(self, num_partitions: int, epoch: int, free_at: float | None) -> None:
        """Every slot WAITING until `free_at`, or FREE (None: no earlier leader can exist)."""
        self.epoch = epoch
        self.slots = [Entry(free_at) for _ in range(num_partitions)]
        if free_at is None:
            for e in self.slots:
                e.state = F
        self._of: dict[str, dict[int, None]] = {}  # member -> its held slots, in order taken
        # member -> its slots ASSIGNING or REVOKING: the leader asks about these on every tick
        # for every member, and in a settled ring there are none (no scan of what it holds)
        self._moving: dict[str, set[int]] = {}

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return len(self.slots)

    def holder(self, p: int) -> str | None:
        return self.slots[p].holder

    def token(self, p: int) -> int:
        return self.slots[p].token

    def held(self, mid: str) -> dict[int, int]:
        """partition -> token of every slot `mid` holds or is being given or asked back."""
        return {p: self.slots[p].token for p in self._of.get(mid, ())}

    def kept(self, mid: str) -> list[int]:
        """What `mid` holds and is not asked to give back: its share as others should see it."""
        return [p for p in self._of.get(mid, ()) if self.slots[p].state is not V]

    def is_revoking(self, p: int) -> bool:
        return self.slots[p].state is V

    def revoking(self, mid: str) -> dict[int, float]:
        """partition -> when it was first asked back, for `mid`'s slots being revoked."""
        return {p: self.slots[p].revoke_sent for p in self._moving.get(mid, ()) if self.slots[p].state is V}

    def pending(self, mid: str) -> dict[int, int]:
        """partition -> assign number, for what `mid` was given and has not confirmed."""
        return {p: e.assign_mseq for p in self._moving.get(mid, ()) if (e := self.slots[p]).assign_mseq}

    def unowned(self) -> int:
        return sum(1 for e in self.slots if e.holder is None)

    def assignable(self, p: int, now: float, mid: str, proven: float = float("inf")) -> bool:
        """May `p` be assigned to `mid` now? (A wait or a grace that has run out ends here.)
        `proven`: until when a quorum of voters surely followed this leader."""
        e = self.slots[p]
        if e.state is F:
            return True
        if e.state is W and e.until <= now and e.until <= proven:
            self._move(p, "lease_ended")
            return True
        if e.state is R:
            if e.until <= now:
                self._move(p, "grace_ended")
                return True
            return e.reserved_for == mid
        return False

    def unproven(self, now: float, proven: float) -> float | None:
        """The latest end of a WAITING slot that is due (its `until` passed) but not yet
        proven (see `assignable`), None if there is none: a probe sent after it proves them all."""
        return max((e.until for e in self.slots if e.state is W and proven < e.until <= now), default=None)

    def next_change(self, now: float) -> float:
        """When a WAITING lease ends or a reservation runs out next (inf: nothing waits)."""
        return min((e.until for e in self.slots if e.state in (W, R) and e.until > now), default=float("inf"))

    def reservations(self) -> dict[int, str]:
        return {p: e.reserved_for for p, e in enumerate(self.slots) if e.state is R and e.reserved_for}

    # ------------------------------------------------------------------ transitions

    def _move(self, p: int, event: str) -> Entry:
        e = self.slots[p]
        to = TRANSITIONS.get((e.state, event))
        if to is None:
            raise InvariantError(f"partition {p}: no transition {event!r} from {e.state.value} "
                                 f"(holder {e.holder!r})")
        if e.holder is not None:
            if to in (A, V):
                self._moving.setdefault(e.holder, set()).add(p)
            else:
                self._moving.get(e.holder, set()).discard(p)
        if to in HELD:
            pass
        elif e.holder is not None:  # leaving the held states
            del self._of[e.holder][p]
            e.holder = None
            e.assign_mseq = e.revoke_mseq = 0
        if to is not R:
            e.reserved_for = None
        e.state = to
        return e

    def _take(self, p: int, e: Entry, mid: str) -> None:
        e.holder = mid
        self._of.setdefault(mid, {})[p] = None
        if e.state in (A, V):
            self._moving.setdefault(mid, set()).add(p)

    def assign(self, p: int, mid: str, now: float, proven: float = float("inf")) -> int:
        """Give `p` to `mid`; its new fencing token. Only when `assignable(p, now, mid, proven)`."""
        if not self.assignable(p, now, mid, proven):
            e = self.slots[p]
            raise InvariantError(f"partition {p} assigned to {mid!r} while {e.state.value} "
                                 f"(holder {e.holder!r}, until {e.until:.3f}, now {now:.3f})")
        e = self._move(p, "assign")
        e.gen += 1
        token = token_of(self.epoch, e.gen)
        if token <= e.token:
            raise InvariantError(f"partition {p}: new token {token} not above {e.token}")
        e.token = token
        self._take(p, e, mid)
        return token

    def answers(self, p: int, mid: str, mseq: int) -> bool:
        """Does a `revoked` of `p` from `mid` answering revoke number `mseq` release it? Only
        an answer to the revoke in progress does: a late answer to an earlier one (asked
        twice, say) must not free a partition given back to the member since."""
        e = self.slots[p]
        return e.state is V and e.holder == mid and mseq >= e.revoke_mseq

    def numbered(self, p: int, mseq: int) -> None:
        """The assign of `p` went (again) with message number `mseq`."""
        self.slots[p].assign_mseq = mseq

    def confirmed(self, p: int) -> None:
        self._move(p, "confirmed").assign_mseq = 0

    def revoke(self, p: int, now: float, mseq: int) -> None:
        """Ask `p` back with revoke number `mseq`. A repeat keeps the first number and the
        first time: the leader's wait for the member's handlers counts from that one."""
        e = self.slots[p]
        again = e.state is V
        self._move(p, "revoke")
        if not again:
            e.revoke_mseq, e.revoke_sent = mseq, now

    def released(self, p: int, now: float, reserve_until: float | None = None) -> None:
        """Its holder let go of `p` (its handlers returned): no lease runs on it any more.
        With `reserve_until`, it is kept for that holder (restarting) until then."""
        mid = self.slots[p].holder
        if reserve_until is None:
            e = self._move(p, "released")
            e.until = now
        else:
            e = self._move(p, "released_for_restart")
            e.until, e.reserved_for = reserve_until, mid

    def released_unheld(self, p: int, now: float) -> None:
        """We (the leader) held `p` as a follower until our handlers returned just now. Nobody
        else held it (it was ours), so if nobody took it since, it is free at once."""
        if self.slots[p].state is W:
            self._move(p, "ours_released").until = now

    def lost(self, p: int, until: float) -> None:
        """Its holder is gone without letting go: its lease may run until `until`."""
        self._move(p, "lost").until = until

    def adopt(self, p: int, mid: str, token: int) -> bool:
        """`mid` reports holding `p` with `token` while nobody holds it for us: it held it
        under an earlier leader. Taken as its owner if the token is no older than ours."""
        e = self.slots[p]
        if e.holder is not None or token < e.token:
            return False
        self._move(p, "adopt")
        e.token = token
        self._take(p, e, mid)
        return True

    # ------------------------------------------------------------------ checking

    def check(self) -> None:
        """Assert every invariant (tests and the simulation call it after each step)."""
        index = {(mid, p) for mid, parts in self._of.items() for p in parts}
        for p, e in enumerate(self.slots):
            if (e.holder is not None) != (e.state in HELD):
                raise InvariantError(f"partition {p}: state {e.state.value} with holder {e.holder!r}")
            if e.holder is not None and (e.holder, p) not in index:
                raise InvariantError(f"partition {p}: held by {e.holder!r} but not in its index")
            if e.state is A and not e.assign_mseq:
                raise InvariantError(f"partition {p}: assigning without an assign number")
            if e.state is V and not e.revoke_mseq:
                raise InvariantError(f"partition {p}: revoking without a revoke number")
            if e.state is R and e.reserved_for is None:
                raise InvariantError(f"partition {p}: reserved for nobody")
        moving = {(mid, p) for mid, parts in self._moving.items() for p in parts}
        if moving != {(e.holder, p) for p, e in enumerate(self.slots) if e.state in (A, V)}:
            raise InvariantError("the index of slots assigning or revoking disagrees with the slots")
        for mid, p in index:
            if self.slots[p].holder != mid:
                raise InvariantError(f"partition {p}: in {mid!r}'s index, held by {self.slots[p].holder!r}")
