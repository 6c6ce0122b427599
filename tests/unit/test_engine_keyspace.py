"""How the engine backend spells the table's kept partitions and a rejoin marker
(engine/keyspace.py): round trips, the old spelling unchanged, and values refused."""

from __future__ import annotations

import json

import pytest

from ringfast.engine import keyspace as ks


def test_a_table_with_kept_partitions_round_trips():
    t = ks.Table.empty(4)
    t.owners[0], t.regs[0], t.tokens[0] = "a", 7, 99
    t.kept = {2: "b", 3: "b"}
    back = ks.decode_table(t.encode(), 4, "table")
    assert back == t
    assert back.copy().kept == {2: "b", 3: "b"} and back.copy().kept is not back.kept


def test_a_table_without_kept_partitions_is_spelt_as_before():
    t = ks.Table.empty(2)
    assert "kept" not in json.loads(t.encode())
    assert ks.decode_table(t.encode(), 2, "table").kept == {}


@pytest.mark.parametrize("kept, why", [
    ({"0": "b"}, "both owned and kept"),  # partition 0 has an owner below
    ({"9": "b"}, "not partition: node id"),
    ({"x": "b"}, "not partition: node id"),
    ({"1": 5}, "not partition: node id"),
    (["1"], "'kept' is not an object"),
])
def test_bad_kept_entries_are_refused(kept, why):
    obj = json.loads(ks.Table.empty(2).encode())
    obj["owners"][0] = "a"
    obj["kept"] = kept
    with pytest.raises(ks.BadValue, match=why):
        ks.decode_table(json.dumps(obj), 2, "table")


def test_a_rejoin_marker_round_trips_and_bad_ones_are_refused():
    v = ks.RejoinValue(1700000000.25, 42)
    assert ks.decode_rejoin(v.encode(), "rejoin/a") == v
    for bad, field in [({"until": "soon", "reg": 1}, "until"), ({"until": 1.0, "reg": 0}, "reg"),
                       ({"until": True, "reg": 1}, "until"), ({"reg": 1}, "until")]:
        with pytest.raises(ks.BadValue, match=f"rejoin/a: field '{field}'"):
            ks.decode_rejoin(json.dumps(bad), "rejoin/a")
