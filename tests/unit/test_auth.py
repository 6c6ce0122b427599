"""The authentication handshake and per-frame MACs, without sockets."""

import pytest

from ringfast.protocol import Auth, Decoder, ProtocolError, encode

SECRET = b"a shared secret of enough bytes"
HB = {"from": "n1", "epoch": 3, "cfg": "10/2/abc", "addr": "127.0.0.1:1", "priority": 0, "inc": 1, "seq": 1, "acked": 0, "holdings": [],
      "seen": 0, "mv": 0}


def handshake(secret_c=SECRET, secret_s=SECRET):
    c, s = Auth(secret_c, initiator=True), Auth(secret_s, initiator=False)
    challenge = s.on_hello(c.hello())
    proof = c.on_challenge(challenge)
    s.on_proof(proof)
    return c, s


def test_both_sides_prove_the_secret_and_agree_on_a_session_key():
    c, s = handshake()
    assert c.ready and s.ready and c.key == s.key
    assert SECRET.hex() not in str(c.hello()) and SECRET not in c.key


def test_a_connector_with_the_wrong_secret_is_refused_and_learns_it_cannot_trust_the_acceptor():
    c, s = Auth(b"x" * 20, initiator=True), Auth(SECRET, initiator=False)
    challenge = s.on_hello(c.hello())
    with pytest.raises(ProtocolError, match="does not know our secret"):
        c.on_challenge(challenge)
    forged = {"proof": "0" * 64}
    with pytest.raises(ProtocolError) as info:
        s.on_proof(forged)
    assert info.value.reason == "unauthenticated" and not s.ready


def test_frames_carry_a_mac_that_stops_tampering_replay_and_other_sessions():
    c, s = handshake()
    dec = Decoder("ringfast", 1 << 16, s)
    frame = encode("heartbeat", HB, "ringfast", c)
    assert dec.feed(frame)[0][0] == "heartbeat"
    with pytest.raises(ProtocolError, match="replayed"):
        dec.feed(frame)  # the same bytes again: its sequence number is used up
    c2, s2 = handshake()
    with pytest.raises(ProtocolError, match="bad MAC"):
        Decoder("ringfast", 1 << 16, s2).feed(encode("heartbeat", HB, "ringfast", c))  # another session's key
    c3, s3 = handshake()
    tampered = bytearray(encode("heartbeat", HB, "ringfast", c3))
    tampered[30] ^= 1
    with pytest.raises(ProtocolError):
        Decoder("ringfast", 1 << 16, s3).feed(bytes(tampered))


def test_ordinary_frames_before_the_handshake_and_handshakes_without_a_secret_are_refused():
    s = Auth(SECRET, initiator=False)
    with pytest.raises(ProtocolError) as info:
        Decoder("ringfast", 1 << 16, s).feed(encode("heartbeat", HB, "ringfast"))
    assert info.value.reason == "unauthenticated"
    hello = encode("auth_hello", {"from": "x", "epoch": 0, **Auth(SECRET, True).hello()}, "ringfast")
    with pytest.raises(ProtocolError) as info:
        Decoder("ringfast", 1 << 16).feed(hello)
    assert info.value.reason == "unauthenticated"
