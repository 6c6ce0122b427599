"""Hypothesis: assign() covers, balances, sticks, moves only the lower bound, and equals the reference."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

import reference
from ringfast import assign

POOL = [f"node-{i}" for i in range(24)] + ["a", "Z", "é", "node-1x"]


@st.composite
def scenarios(draw, weighted=None):
    P = draw(st.one_of(st.integers(1, 60), st.integers(1, 400)))
    members = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=20, unique=True))
    previous = draw(
        st.none()
        | st.dictionaries(
            st.sampled_from(POOL),
            st.lists(st.integers(0, P + 5), max_size=P // 2 + 3),  # partial, duplicated, out of range
            max_size=20,
        )
    )
    if weighted is None:
        weighted = draw(st.booleans())
    weights = None
    if weighted:
        weights = draw(
            st.dictionaries(
                st.sampled_from(POOL),
                st.one_of(st.integers(1, 10), st.floats(0.01, 100.0, allow_nan=False)),
                max_size=20,
            )
        )
    return P, members, previous, weights


def check_cover_and_balance(P, members, weights, result):
    assert set(result) == set(members)
    flat = [p for parts in result.values() for p in parts]
    assert sorted(flat) == list(range(P))
    assert all(parts == sorted(parts) for parts in result.values())
    loads = {m: len(parts) for m, parts in result.items()}
    if weights is None:
        assert max(loads.values()) - min(loads.values()) <= 1
    else:
        ws = {m: float(weights.get(m, 1.0)) for m in members}
        total = sum(ws.values())
        for m in members:
            q = P * ws[m] / total
            assert math.floor(q + 1e-9) - 1 < loads[m] < math.ceil(q - 1e-9) + 1, (m, q, loads[m])


@given(scenarios())
@settings(max_examples=400)
def test_assign_properties(scenario):
    P, members, previous, weights = scenario
    result = assign(P, members, previous=previous, weights=weights)
    check_cover_and_balance(P, members, weights, result)
    assert result == reference.assign(P, members, previous, weights)
    assert reference.moved(P, members, previous, result) == reference.movement_lower_bound(
        P, members, previous, weights
    )


@given(scenarios(), st.randoms(use_true_random=False))
def test_assign_is_independent_of_input_order(scenario, rnd):
    P, members, previous, weights = scenario
    want = assign(P, members, previous=previous, weights=weights)
    shuffled = members[:]
    rnd.shuffle(shuffled)
    prev2 = None if previous is None else dict(reversed(list(previous.items())))
    w2 = None if weights is None else dict(reversed(list(weights.items())))
    assert assign(P, shuffled, previous=prev2, weights=w2) == want


events = st.lists(st.tuples(st.sampled_from(["join", "leave"]), st.sampled_from(POOL)), min_size=1, max_size=12)


@given(st.integers(1, 300), st.lists(st.sampled_from(POOL), min_size=1, max_size=8, unique=True), events)
def test_join_and_leave_chains_move_only_what_they_must(P, start, steps):
    members = list(start)
    current = assign(P, members)
    for kind, who in steps:
        if kind == "join" and who not in members:
            members = members + [who]
        elif kind == "leave" and who in members and len(members) > 1:
            members = [m for m in members if m != who]
        else:
            continue
        nxt = assign(P, members, previous=current)
        check_cover_and_balance(P, members, None, nxt)
        before = {p: m for m, ps in current.items() for p in ps}
        after = {p: m for m, ps in nxt.items() for p in ps}
        changed = {p for p in range(P) if before[p] != after[p]}
        assert len(changed) == reference.movement_lower_bound(P, members, current)
        if kind == "leave":  # from a balanced state, exactly the leaver's partitions move
            assert changed == set(current[who])
        else:  # ...and on a join, everything that moves goes to the newcomer
            assert changed == set(nxt[who])
        current = nxt


@given(scenarios(weighted=True))
def test_weight_changes_move_only_the_lower_bound(scenario):
    P, members, _, weights = scenario
    start = assign(P, members)
    result = assign(P, members, previous=start, weights=weights)
    check_cover_and_balance(P, members, weights, result)
    assert reference.moved(P, members, start, result) == reference.movement_lower_bound(P, members, start, weights)


@given(
    st.integers(1, 3000),
    st.lists(st.sampled_from(POOL), min_size=1, max_size=20, unique=True),
    st.lists(st.sampled_from(POOL), min_size=1, max_size=20, unique=True),
    st.randoms(use_true_random=False),
)
@settings(max_examples=200)
def test_previous_built_from_a_result_in_any_order_equals_the_reference(P, before, after, rnd):
    """The ints of an earlier result (the very objects assign() returned, which it may
    recognise by address) shuffled, dropped, repeated and moved between members."""
    previous = {}
    for m, parts in assign(P, before).items():
        parts = list(parts)
        rnd.shuffle(parts)
        cut = rnd.randint(0, len(parts))
        previous[m] = parts[:cut] + parts[: rnd.randint(0, cut)]
        if cut < len(parts):
            previous.setdefault(rnd.choice(POOL), []).extend(parts[cut:])
    assert assign(P, after, previous=previous) == reference.assign(P, after, previous)
