"""Text shared by the dev-cluster view, its ``nodes`` table and ``ringfast status``."""

from __future__ import annotations


def format_ranges(parts) -> str:
    """[0, 1, 2, 3, 7, 9, 10] -> '0-3,7,9-10'; [] -> '-'."""
    ps = sorted(set(parts))
    if not ps:
        return "-"
    out = []
    start = prev = ps[0]
    for p in ps[1:] + [None]:
        if p is not None and p == prev + 1:
            prev = p
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        if p is not None:
            start = prev = p
    return ",".join(out)


def format_table(rows) -> list[str]:
    """Rows of strings (the header first) as lines of left-aligned columns two spaces apart,
    without trailing blanks."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
