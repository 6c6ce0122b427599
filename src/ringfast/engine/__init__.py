"""Running the ring on a coordination engine users already operate (etcd), instead of the
built-in protocol: the same events, payloads, fencing tokens and revoke-before-assign, with
membership, leadership and the assignment kept in the engine.

- keyspace.py: the keys and their values;
- member.py: `EngineRing`, the pure state machine of one node (and why no partition is
  held twice); leader.py: its leader's part, the table's lifecycle;
- actions.py: what it asks of the engine; driver.py: the driver that carries it out;
- etcd.py: the etcd client (its HTTP gateway, through `etcd3gw`); runner.py: the node's
  greenlets (the session, the watch, the writes).
"""
