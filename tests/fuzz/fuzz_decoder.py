"""Coverage-guided fuzzing of the frame decoder with atheris (libFuzzer).

    python tests/fuzz/fuzz_decoder.py -runs=200000          # or -max_total_time=600

Arbitrary bytes, fed in arbitrary pieces, with and without authentication: the decoder
may only ever return validated messages or raise ProtocolError. Anything else (any other
exception, a message of an unknown kind) is a crash that libFuzzer reports with its input.
"""

import sys

import atheris

with atheris.instrument_imports():
    from ringfast import protocol

KINDS = set(protocol.TYPE_OF)


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    authed = fdp.ConsumeBool()
    auth = protocol.Auth(b"fuzzing secret 0123456789", initiator=False) if authed else None
    if auth is not None and fdp.ConsumeBool():
        auth.key = b"k" * 32  # past the handshake: frames must carry a MAC
    dec = protocol.Decoder("ringfast", fdp.ConsumeIntInRange(16, 1 << 16), auth)
    try:
        while fdp.remaining_bytes():
            piece = fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 512))
            for kind, body in dec.frames(piece):
                assert kind in KINDS and isinstance(body, dict), (kind, body)
    except protocol.ProtocolError:
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
