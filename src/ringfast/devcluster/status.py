"""``ringfast status``: GET a node's /status and print its view of the ring as a table."""

from __future__ import annotations

import http.client
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

from ..errors import ConfigError
from .formatting import format_ranges, format_table
from .processes import DEFAULT_STATUS_URL, HOST


def _no_proxy_open(url: str, timeout: float):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return opener.open(url, timeout=timeout)


def _status_url(url: str) -> str:
    url = url.strip()
    if url.isdigit():
        url = f"{HOST}:{url}"
    if "://" not in url:
        url = "http://" + url
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"URL={url!r}: expected http://host:port")
    path = parts.path.rstrip("/")
    if not path.endswith("/status"):
        path += "/status"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def format_status(doc: dict, url: str) -> str:
    me = doc.get("node") or {}
    members = doc.get("members") or []
    total = doc.get("num_partitions")
    owned = set()
    for m in members:
        owned |= set(m.get("partitions") or [])
    lines = [f"{url}: node {me.get('id')} ({me.get('address')}), {me.get('role')}"]
    summary = f"leader: {doc.get('leader') or '-'}   epoch: {doc.get('epoch')}   partitions: {total}"
    if isinstance(total, int):
        missing = sorted(set(range(total)) - owned)
        summary += " (all owned)" if not missing else f" (not owned: {format_ranges(missing)})"
    lines += [summary, ""]
    rows = [("ID", "ADDRESS", "PRIORITY", "ROLE", "PARTITIONS")]
    for m in members:
        ps = m.get("partitions") or []
        rows.append((str(m.get("id")) + (" *" if m.get("id") == me.get("id") else ""), str(m.get("address")),
                     str(m.get("priority")), str(m.get("role")),
                     f"{format_ranges(ps)} ({len(ps)})" if ps else "-"))
    lines += format_table(rows)
    if not members:
        lines.append("(no members known to this node)")
    lines.append("(* the node that answered)")
    return "\n".join(lines)


def run_status(args) -> int:
    url = _status_url(args.url)
    try:
        with _no_proxy_open(url, args.timeout) as resp:
            body = resp.read()
    except urllib.error.HTTPError as e:
        print(f"ringfast: {url} answered {e.code} {e.reason}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", e)
        print(f"ringfast: cannot reach {url}: {reason}", file=sys.stderr)
        return 1
    try:
        doc = json.loads(body)
        if not isinstance(doc, dict) or not isinstance(doc.get("members", []), list):
            raise ValueError("not a /status document")
    except ValueError as e:
        print(f"ringfast: {url} did not answer a ringfast /status document ({e})", file=sys.stderr)
        return 1
    print(json.dumps(doc, indent=2) if args.json else format_status(doc, url))
    return 0
