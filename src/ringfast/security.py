"""A node's transport security: its mutual-TLS contexts, the names a peer's certificate
holds, and the shared secret of the authentication handshake (docs/security.md)."""

from __future__ import annotations

import os

from .config import Config
from .errors import ConfigError


def certificate_names(sock) -> frozenset:
    """The names a TLS peer's (verified) certificate holds: subject alternative names of
    type DNS or URI, and the subject's common name."""
    try:
        cert = sock.getpeercert() or {}
    except (AttributeError, ValueError, OSError):
        return frozenset()
    names = {value for kind, value in cert.get("subjectAltName", ()) if kind in ("DNS", "URI")}
    names.update(value for rdn in cert.get("subject", ()) for key, value in rdn if key == "commonName")
    return frozenset(names)


def tls_contexts(cfg: Config):
    """(server, client) contexts for mutual TLS, or (None, None). Members are whoever holds a
    certificate signed by the CA: seed entries may be names or IPs, and pods change IPs, so
    certificate names are not checked against addresses (they are against the node id a
    peer speaks as: Connections._tls_names_ok in connections.py)."""
    if not cfg.tls_cert:
        return None, None
    from gevent import ssl

    contexts = []
    for purpose in (ssl.PROTOCOL_TLS_SERVER, ssl.PROTOCOL_TLS_CLIENT):
        ctx = ssl.SSLContext(purpose)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_REQUIRED
        try:
            ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
            ctx.load_verify_locations(cfg.tls_ca)
        except (OSError, ssl.SSLError) as e:
            raise ConfigError(
                f"RINGFAST_TLS_CERT={cfg.tls_cert!r}, RINGFAST_TLS_KEY={cfg.tls_key!r}, RINGFAST_TLS_CA={cfg.tls_ca!r}: {e}"
            ) from None
        contexts.append(ctx)
    return tuple(contexts)


def read_secret(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            secret = f.read().strip()
    except OSError as e:
        raise ConfigError(f"RINGFAST_SECRET_FILE={path!r}: cannot read it: {e.strerror or e}") from None
    if mode & 0o077:  # like ssh with a private key: a secret others can read is no secret
        raise ConfigError(
            f"RINGFAST_SECRET_FILE={path!r}: permissions {mode & 0o777:04o} are too open: group and others must have "
            f"no access (chmod 600 {path})"
        )
    if len(secret) < 16:
        raise ConfigError(f"RINGFAST_SECRET_FILE={path!r}: the secret must be at least 16 bytes")
    return secret
