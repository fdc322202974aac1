"""Automation scores: one timed OSC message per line (INTERFACE.md, `render --automation`).

    TIME_SECONDS /address arg arg ...   # comment

Arguments are ints, floats or strings, whichever they parse as first (so `60` is an int, `2.0` a float,
`istft` a string, `"istft"` a string without its quotes). Syntax errors and unknown addresses are refused
with a one-line UserError naming the line; argument values are checked when the message is applied, by
the same `Controls.dispatch` that serve uses (invalid ones are dropped and counted, as live).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from vaesynth.errors import UserError
from vaesynth.synth.controls import ADDRESSES, PREFIX


@dataclass(frozen=True)
class ScoreMessage:
    """time_s: when to apply it (seconds from the start). address: OSC address. args: tuple. line: 1-based."""

    time_s: float
    address: str
    args: tuple
    line: int


def parse_arg(token: str):
    """int, else float, else string (surrounding quotes removed)."""
    try:
        return int(token)
    except ValueError:
        pass
    try:
        return float(token)
    except ValueError:
        pass
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "\"'":
        return token[1:-1]
    return token


def parse_score(text: str, source: str = "score") -> list[ScoreMessage]:
    """Parse a score; returns messages sorted by time (stable: same-time messages keep file order).
    Raises UserError("SOURCE:LINE: ...") on the first bad line."""
    known = {PREFIX + a for a in ADDRESSES}
    out = []
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        tokens = line.split()
        try:
            time_s = float(tokens[0])
        except ValueError:
            raise UserError(f"{source}:{line_no}: expected a time in seconds, got {tokens[0]!r}") from None
        if not math.isfinite(time_s) or time_s < 0:
            raise UserError(f"{source}:{line_no}: time must be a finite number >= 0, got {tokens[0]!r}")
        if len(tokens) < 2:
            raise UserError(f"{source}:{line_no}: missing OSC address after the time")
        address = tokens[1]
        if address not in known:
            raise UserError(
                f"{source}:{line_no}: unknown address {address!r} (known: {', '.join(sorted(known))})"
            )
        out.append(ScoreMessage(time_s, address, tuple(parse_arg(t) for t in tokens[2:]), line_no))
    out.sort(key=lambda m: m.time_s)
    return out


def load_score(path: str | Path) -> list[ScoreMessage]:
    """Read and parse a score file (UserError if unreadable or invalid)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read automation score {path}: {e.__class__.__name__}: {e}") from None
    return parse_score(text, source=str(path))
