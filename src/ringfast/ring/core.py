"""The coordination protocol: election, heartbeats and leases, and the leader's assignment.

States and transitions (one object per node, driven by `tick()` and `receive()` from the
node's greenlets; it never blocks):

    follower --no leader heard for failure_timeout (+ rank delay)--> candidate
    candidate --votes from a quorum of seed nodes--> leader
    candidate --election round times out / a leader appears--> follower
    leader --cannot hear a quorum of seeds for failure_timeout,
             or sees a higher epoch, or stops--> follower

Protocol, in short:

- **Epochs.** Every message carries the sender's epoch. A higher epoch is adopted from
  elections, hellos of voters and leader_is (a leader seeing one steps down), never from
  a heartbeat, ack, assign, revoke or leave; a message from an older epoch is answered
  with who the leader is and otherwise ignored. A voter grants at most one vote per epoch, none for
  one timeout after it started, none while it hears a live leader, and none to a candidate
  when it is itself of better priority (lower number, then id) and still trying.
  Candidates wait a delay that grows with their priority rank, so the best live node
  usually asks first. Voters are the seed nodes; a quorum is a majority of them.
- **Leases.** Followers send a heartbeat every `heartbeat_interval` with what they hold.
  The leader's answer renews the follower's lease from the *send time* of that heartbeat
  for `failure_timeout`, or less: never past the leader's quorum deadline (the answer
  says how long), on the follower's own lease clock (`ringfast.clock`). The leader probes
  its voters every half heartbeat to keep that deadline fresh. A follower
  whose lease runs out revokes everything itself. The leader treats a follower as gone
  after `failure_timeout` without a heartbeat (or at once when its connection closes) but
  frees its partitions only at last-heard + `failure_timeout` + a safety margin: by then
  the lease has expired
  (clocks are assumed to run at the same rate within `DRIFT`).
- **Handoff.** Between live nodes a partition moves revoke -> the old owner's handler
  returns -> `revoked` -> assign to the new owner, with a fencing token
  ``epoch << 31 | generation`` that only grows for each partition.
- **Failover.** A new leader adopts what followers report they hold, so their partitions
  stay put, and treats everything nobody reported as possibly leased to someone until
  the latest time its voters say an earlier leader could count on them ("grants"), plus
  three margins: no lease outlives the quorum deadline of the leader that granted it,
  and every earlier leader's quorum shares a voter with ours.
"""

from __future__ import annotations

import logging
import random
import time

from ..assumptions import epoch_cap, explain_mismatch, fingerprint, printable
from ..events import PartitionsChanged
from ..limits import LONGEST_ID, largest_frame, member_entry_bytes
from ..metrics import NoMetrics
from ..table import PartitionTable
from .actions import Action, Close, Released, Reply, Revoke, RoleChanged, Send, Storage
from .common import DRIFT, MIN_MARGIN, START_WAIT, Member, step
from .election import Election
from .follower import Follower
from .guard import Guard
from .handoff import Handoff
from .leader import Leader

log = logging.getLogger(__name__)


class Ring(Election, Follower, Leader, Handoff, Guard):
    """Protocol state of one node. It only decides: each entry point (`tick`, `receive`,
    `revoke_finished`, `on_connection_lost`, `on_inbound_closed`, `leave`) returns the
    actions it decided on (ring/actions.py), which a driver (ringfast/driver.py) carries
    out. `storage` (None: no state dir) takes the epoch and vote before they are used."""

    def __init__(self, config, storage: Storage | None, clock, epoch: int, rng=None, metrics=None, wall=time.time,
                 fresh: bool = False, recorded: int = 0):
        self.cfg = config
        self.metrics = metrics or NoMetrics()
        self.storage = storage
        self.out: list[Action] = []  # what the running entry point decided so far
        self.clock = clock
        self.rng = rng or random.Random()
        self.id = config.node_id
        self.addr = config.address
        self.priority = config.priority
        self.P = config.num_partitions
        self.L = config.failure_timeout
        # A follower's clock may run DRIFT slower than ours: its lease of L then lasts
        # L / (1 - DRIFT) of our time, which is L * DRIFT / (1 - DRIFT) more (not DRIFT * L).
        self.margin = max(MIN_MARGIN, self.L * DRIFT / (1 - DRIFT))
        self.seeds = tuple(config.seeds)
        self.quorum = config.quorum_size()
        self.stagger = self.L / 3
        self.wall = wall  # the wall clock: only for epoch bounds and skew warnings, never for leases
        # what must match on every node (voter set, quorum, partitions), carried by every message
        self.fp = fingerprint(self.P, self.quorum, self.seeds, self.L)
        # tells this process from another one started with the same node id
        self.inc = self.rng.getrandbits(62)
        self.logged: set = set()  # (kind, peer, ...) already logged: refusals are logged once each
        self.refusal: tuple[str, str, str] | None = None  # the last (peer, reason, detail) a peer refused us for
        self.conflict_until = float("-inf")  # a voter of ours runs settings unsafe to elect beside
        now = clock()

        self.epoch = 0  # the current leader's epoch; 0 until we know one
        self.epoch_floor = epoch  # our own candidacies start above this (persisted or wall clock)
        # The highest epoch our state dir holds (at start, then each write it took): we
        # voted or ran there, or followed its leader. We never follow a leader below it.
        self.recorded = recorded
        self.vote_floor = 0  # highest epoch we voted or ran in (never vote there again)
        self.prevote = False
        self.asked_at = now
        self.voted: tuple[int, str] | None = None
        self.role = "follower"
        self.leader: str | None = None
        self.leader_addr: str | None = None
        self.last_leader_contact = now
        self.leader_heard = float("-inf")  # when the leader itself last answered us
        # Until when a leader we backed may still renew leases: one that answered us, or one
        # we voted for, may count us in its quorum for a lease after that; one we were
        # ourselves stopped at once. Our votes carry how long that still is ("grants"), and
        # the leader we elect waits it out for partitions nobody reports (leases end with the
        # quorum deadline that backs them: see Leader._on_heartbeat).
        # A restarted node may have backed a leader just before (and forgotten it, without a
        # state dir): that leader may count on it until a lease after its restart at most.
        self.grants_until = float("-inf") if fresh else now + self.L
        self.vote_grants: dict[str, float] = {}  # voter address -> its grants_until, on our clock
        self.granted_until = float("-inf")  # as leader: the end of the latest lease we granted
        self.promised_until = float("-inf")  # after a vote: until the candidate won or a timeout
        # `fresh`: a state dir that held nothing at start, so this node has never voted nor run
        # in any epoch (every vote and candidacy is written there before it is made). While it
        # stays so, its votes say it, and a leader elected by a quorum of fresh voters knows
        # that no earlier leader ever existed (two quorums share a voter): no lease to wait out.
        self.fresh = fresh
        self.fresh_voters: set[str] = set()  # voters whose vote for us came from a fresh node
        self.fresh_candidacy = False
        # A restarted voter may have voted shortly before and forgotten (without a state dir)
        # or count as contact for the leader it elected: it waits one timeout before voting.
        # A fresh one has never voted.
        self.vote_blocked_until = now if fresh else now + self.L
        # A fresh node's first election waits only for a hello's answer (a leader already
        # there), not a whole timeout: voters that hear a live leader refuse its pre-vote
        # anyway. Others wait the timeout: their peers may be blocking votes for that long.
        first = min(self.L, START_WAIT) if fresh else self.L
        self.election_at = now + first + self.rng.uniform(0, self.stagger / 4)
        self.votes: dict[str, str] = {}  # voter address -> the id that voted from there
        self.election_deadline = 0.0
        self.failed_elections = 0
        self.next_heartbeat = now
        self.next_discovery = now
        self.known: dict[str, tuple[str, int, float, int]] = {}  # id -> (addr, priority, heard, incarnation)
        self.wall_skews: dict[str, tuple[float, float]] = {}  # peer -> (|wall-clock difference|, when)
        self.view: list[dict] = []  # members as the leader last described them
        self.mv = 0  # version of that view
        self.stopping = False
        self.leave_restart = False  # how we leave, once stopping
        self.last_tick = now
        self.suspended_until = 0.0  # after a hung revoke handler: let our lease run out

        # follower state
        self.held: dict[int, int] = {}
        self.max_token: dict[int, int] = {}  # highest token ever taken per partition
        self.lease_expiry = 0.0
        self.hb_seq = 0
        self.hb_acked = 0  # highest heartbeat the leader answered: tells it we heard it
        self.hb_sent: dict[int, tuple[float, bool]] = {}
        self.seen_mseq = 0  # highest leader message number handled (assign/revoke)
        self.seen_for: tuple | None = None  # ...from this (leader, epoch)
        self.revoke_in_progress: set[int] = set()

        # leader state
        self.members: dict[str, Member] = {}
        # The member list goes whole into heartbeat answers: its bytes (partitions aside), and
        # what the frame limit leaves for them once every partition and token is counted.
        # Room is kept for every voter (a ring without its voters has no quorum): for the
        # longest id an absent one could have, and what it takes once present (the slack);
        # only the others are counted against the rest, and refused when it is full.
        self.view_bytes = 0
        self.view_budget = (config.max_frame_size - largest_frame(config)
                            - sum(member_entry_bytes(LONGEST_ID, a) for a in config.seeds))
        self.voter_slack = 0
        self.table = PartitionTable(0, 0, now)  # every partition's handoff state (table.py)
        self.leader_since = 0.0
        self.voter_heard: dict[str, float] = {}
        self.dirty = False
        self.members_version = 0
        self.view_cache: list[dict] | None = None
        self.expected: set[str] = set()
        self.hint: dict[int, str] = {}
        self.next_wake = float("inf")  # when the leader must look at unowned partitions again
        self.sessions = 0
        self.lost_leader: str | None = None  # not counted as a live better node
        self.settle_until = 0.0
        self.need_proof = False  # a wait ended that a quorum has not proven yet (handoff.py)
        self.next_probe = 0.0
        self.last_probe = float("-inf")
        self.requests: dict[int, tuple[str, dict]] = {}  # revoke handlers running: number -> (purpose, context)
        self.next_request = 0

    def _set_role(self, role: str, leader: str | None, leader_addr: str | None = None):
        changed = (role, leader) != (self.role, self.leader)
        if leader is not None and leader != self.leader:
            self.metrics.leader_changes.inc()
        self.role, self.leader, self.leader_addr = role, leader, leader_addr
        if changed:
            self.out.append(RoleChanged(role, leader, self.epoch))

    def _adopt_epoch(self, epoch: int):
        if epoch > self.epoch:
            self.epoch = epoch
            if self.role != "follower":
                log.info("saw epoch %d: stepping down", epoch)
                self._become_follower(None, None)
            elif self.leader is not None:
                self._set_role("follower", None)  # our leader belongs to an older epoch
            self._persist(self.epoch, self.voted)

    # ------------------------------------------------------------------ what we decide

    def _send(self, to: str, kind: str, body: dict) -> None:
        self.out.append(Send(to, kind, body))

    def _reply(self, link, kind: str, body: dict) -> None:
        self.out.append(Reply(link, kind, body))

    def _close(self, link) -> None:
        self.out.append(Close(link))

    def _persist(self, epoch: int, voted: tuple[int, str] | None) -> bool:
        """Write the highest epoch we have seen or voted in, and our vote; False if the
        state dir did not take it (the caller then neither votes nor runs)."""
        if self.storage is None:
            return True
        epoch = max(epoch, self.vote_floor)
        if self.storage.save(epoch, voted) is False:
            return False
        self.recorded = max(self.recorded, epoch)
        return True

    def _common(self) -> dict:
        return {"from": self.id, "epoch": self.epoch, "cfg": self.fp, "inc": self.inc}

    def holding_deadline(self) -> float:
        """Until when what this node holds surely stays its own without news: a follower
        holds on its lease, a leader (owning partitions) on its quorum. Read by the API so a
        node frozen past it reports nothing held even before it has run again."""
        if self.role == "leader":
            return self._quorum_until(self.clock())
        return self.lease_expiry

    @step
    def tick(self):
        now = self.clock()
        if self.role == "leader" and self._leadership_lapsed(now):
            self.last_tick = now
            return
        self.last_tick = now
        if self.role == "leader":
            self._leader_tick(now)
        else:
            self._follower_tick(now)

    @step
    def receive(self, link, kind: str, body: dict, dialed: str | None = None):
        """A validated message arrived. `link` is the driver's handle for the connection it
        came on (opaque here: only handed back in `Reply` and `Close`); `dialed` is the
        address we connected to if we opened that connection (None if the peer did)."""
        now = self.clock()
        sender, epoch = body["from"], body["epoch"]
        if kind == "refused":
            self._on_refused(link, body, now, dialed)
            return
        if body["cfg"] != self.fp:
            self._refuse(link, sender, "settings_mismatch", explain_mismatch(self.fp, body["cfg"], printable(self.id), printable(sender)))
            self._check_conflict(link, body, now, dialed)
            return
        cap = epoch_cap(self.wall())
        if epoch > cap:
            self._refuse(link, sender, "epoch_out_of_range",
                         f"epoch {epoch} is above {cap} (wall clock + headroom): not adopted")
            return
        if self.role == "leader" and sender in self.members and self.members[sender].inc != body["inc"]:
            # Another process with a member's id, while the first is still a member (dropped
            # after a failure timeout without heartbeats, or at once when its connection
            # closes). Taking its heartbeat as a reconnect, or its leave as the member's, would
            # hand the first one's partitions on while it still holds them: refuse it till then.
            m = self.members[sender]
            self._refuse(link, sender, "duplicate_id",
                         f"node id {sender!r} is already a live member at {m.addr} (another process); "
                         f"give every process its own NODE_ID")
            return
        if sender == self.id:
            if body["inc"] != self.inc:
                # another process with our id (ours is live: we are running this): tell it,
                # so that its operator sees why it is refused everywhere
                self._refuse(link, sender, "duplicate_id",
                             f"node id {sender!r} is live at {self.addr} (another process); "
                             f"give every process its own NODE_ID")
            return
        entry = self.known.get(sender)
        if entry is not None and entry[3] == body["inc"]:  # only the process we know keeps its entry fresh
            self.known[sender] = (entry[0], entry[1], now, entry[3])
        if self.role == "leader":
            self._leadership_lapsed(now)  # steps down first if it must: then answers as a follower
        handler, any_epoch = DISPATCH[kind]
        if not any_epoch:
            if epoch < self.epoch:
                if kind in ("heartbeat", "assign", "revoke"):
                    self._reply_leader_is(link, now)  # tell a stale node who leads now
                return
            if epoch > self.epoch:
                # Heartbeats, acks, assigns, revokes and leaves pass between a leader and its
                # followers in the leader's epoch: one from a newer epoch than ours came from
                # no one we lead or follow. Newer epochs reach us through elections (votes,
                # vote requests), hellos and leader_is from voters; adopting one from any
                # frame let a single frame from a non-member depose the leader.
                self._refuse(link, sender, "epoch_out_of_range",
                             f"a {kind} in epoch {epoch}, above ours ({self.epoch}): not adopted")
                return
        handler(self, link, body, now, dialed)

    # ------------------------------------------------------------------ revoke handlers

    def _revoke(self, change: PartitionsChanged, purpose: str, **context) -> None:
        """Ask the application to let go of `change.partitions`. When its handlers have
        returned the driver calls `revoke_finished` with the request's number, and
        FINISH[purpose] runs with `context`: no closure of ours waits in the driver."""
        self.next_request += 1
        self.requests[self.next_request] = (purpose, context, change)
        self.out.append(Revoke(change, self.next_request))

    @step
    def revoke_finished(self, request: int, ok: bool) -> None:
        """The revoke handlers of `request` returned (`ok`), or timed out (not `ok`): a
        `Released` says when our right to those partitions ended (for the journal)."""
        purpose, context, change = self.requests.pop(request)
        ended = FINISH[purpose](self, ok, **context)  # set if the right ended before now
        self.out.append(Released(change, change.expired_at if change.expired_at is not None else ended))

    def _on_hello(self, link, body, now, dialed=None):
        sender, epoch = body["from"], body["epoch"]
        genuine = self._note_known(body, now)
        self._check_wall(sender, body["wall"])
        # A newer epoch in a hello means its sender voted or ran in a newer election. Only a
        # voter's counts (a quorum of voters agreed to hold it); a non-voter's follows one.
        voter = genuine and self._is_voter(body["addr"]) and (dialed is None or dialed == body["addr"])
        if voter:
            self.epoch_floor = max(self.epoch_floor, epoch)
        if self.role == "leader" and epoch > self.epoch and voter:
            # it voted in a newer election (one a quorum agreed to hold): this leadership
            # is over, and without a new election it could never follow anyone again
            log.info("%s took part in epoch %d: stepping down from %d", sender, epoch, self.epoch)
            self._become_follower(None, None)
        self._reply_leader_is(link, now)
        self._maybe_start_early(now)


# Every message kind a ring message can be (protocol.MESSAGES, "refused" aside: receive()
# takes it before the checks that could refuse) -> (its handler, whether it is handled
# whatever the sender's epoch). Elections and discovery are; the rest is dropped when it
# comes from an older epoch (heartbeats, assigns and revokes answered with who leads now),
# and a newer epoch is adopted before its handler runs.
DISPATCH = {
    "vote_req": (Election._on_vote_req, True),
    "vote": (Election._on_vote, True),
    "hello": (Ring._on_hello, True),
    "leader_is": (Election._on_leader_is, True),
    "heartbeat": (Leader._on_heartbeat, False),
    "revoked": (Handoff._on_revoked, False),
    "leave": (Leader._on_leave, False),
    "heartbeat_ack": (Follower._on_heartbeat_ack, False),
    "assign": (Follower._on_assign, False),
    "revoke": (Follower._on_revoke, False),
}

# Why a revoke was asked (Ring._revoke) -> what runs when its handlers have returned.
FINISH = {
    "lease_expired": Follower._lease_revoked,  # our lease ran out: already let go
    "rebalance": Follower._rebalance_revoked,  # the leader asked: answer it
    "leave": Follower._leave_revoked,  # we are stopping: tell the leader
    "leader_start": Leader._start_revoked,  # became leader: what we held as a follower
    "leader_stop": Leader._stop_revoked,  # stopped leading: what we owned as leader
}
