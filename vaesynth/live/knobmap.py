"""MIDI CC -> control targets (`pc N`, `z N`, `gain`) with a value range: the default map, TOML maps, learn.

The default map is INTERFACE.md's: CC 70..77 (the MIDI sound controllers) -> PCA coordinates 0..7, 0..127
mapped linearly to -3..+3 standard deviations. A TOML file (`serve --map FILE`) adds or overrides entries:

    defaults = true              # keep CC 70-77 -> pc 0-7 (false: only the entries below)

    [cc.74]
    target = "pc 0"              # pc N | z N | gain
    range = [-3.0, 3.0]          # value at CC 0 and at CC 127 (may be reversed)

    [cc]
    7 = { target = "gain", range = [-60.0, 0.0] }

CC 64 (sustain) and 120/123 (all sound / notes off) keep their fixed meaning unless the map binds them.
Errors in a map are one-line UserErrors naming the file, the line and the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import tomllib

from vaesynth.errors import UserError
from vaesynth.synth.controls import PC_CC_COUNT, PC_CC_FIRST, PC_CC_RANGE_STD, PREFIX

KINDS = ("pc", "z", "gain")
# Range given to a target bound by MIDI learn (or a map entry without `range`).
DEFAULT_RANGES = {"pc": (-PC_CC_RANGE_STD, PC_CC_RANGE_STD), "z": (-3.0, 3.0), "gain": (-60.0, 0.0)}
_TARGET_RE = re.compile(r"^\s*(pc|z)\s+(\d+)\s*$|^\s*(gain)\s*$")


@dataclass(frozen=True)
class Target:
    """Where a CC goes. kind: pc | z | gain; index: coordinate (pc/z); lo, hi: value at CC 0 and CC 127
    (standard deviations for pc, latent units for z, dB for gain)."""

    kind: str
    index: int = 0
    lo: float = -3.0
    hi: float = 3.0

    def label(self) -> str:
        return self.kind if self.kind == "gain" else f"{self.kind} {self.index}"

    def message(self, value: int) -> tuple[str, list]:
        """CC value 0..127 -> (address, args) for Controls.dispatch."""
        v = self.lo + (self.hi - self.lo) * (min(127, max(0, int(value))) / 127.0)
        if self.kind == "gain":
            return PREFIX + "gain", [v]
        return PREFIX + self.kind, [self.index, v]


def parse_target(text: str, lo: float | None = None, hi: float | None = None) -> Target:
    """'pc 3' / 'z 0' / 'gain' (+ optional range) -> Target; ValueError for anything else."""
    m = _TARGET_RE.match(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"target {text!r} is not one of 'pc N', 'z N', 'gain'")
    kind = m.group(1) or m.group(3)
    index = int(m.group(2)) if m.group(2) else 0
    d_lo, d_hi = DEFAULT_RANGES[kind]
    return Target(kind, index, d_lo if lo is None else float(lo), d_hi if hi is None else float(hi))


def default_map() -> dict[int, Target]:
    lo, hi = DEFAULT_RANGES["pc"]
    return {PC_CC_FIRST + i: Target("pc", i, lo, hi) for i in range(PC_CC_COUNT)}


class KnobMap:
    """CC number -> Target, plus MIDI learn. Used from the control thread only.

    n_pcs, latent_dim: bounds for target indices (None: unchecked)."""

    def __init__(self, entries: dict[int, Target] | None = None):
        self.entries: dict[int, Target] = default_map() if entries is None else dict(entries)
        self._learn: Target | None = None

    def lookup(self, cc: int) -> Target | None:
        return self.entries.get(int(cc))

    def arm_learn(self, target: Target) -> None:
        """The next CC moved (other than 64/120/123) is bound to `target`."""
        self._learn = target

    @property
    def learning(self) -> Target | None:
        return self._learn

    def try_learn(self, cc: int) -> Target | None:
        """If learn is armed, bind cc to its target and return it (disarming); else None."""
        if self._learn is None or cc in (64, 120, 123):
            return None
        target, self._learn = self._learn, None
        self.entries[int(cc)] = target
        return target

    def describe(self) -> dict[str, str]:
        return {str(cc): f"{t.label()} [{t.lo:g}, {t.hi:g}]" for cc, t in sorted(self.entries.items())}

    @classmethod
    def from_toml(
        cls, path: str | Path, n_pcs: int | None = None, latent_dim: int | None = None
    ) -> "KnobMap":
        """Read a TOML knob map (format in the module docstring). UserError (one line, with the line number
        where it can be found) for a missing file, bad TOML, an unknown key, a bad CC, target or range."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise UserError(f"{path}: cannot read the knob map ({e.strerror or e})") from None
        except UnicodeDecodeError:
            raise UserError(f"{path}: the knob map is not UTF-8 text") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise UserError(f"{path}: not valid TOML: {e}") from None

        def fail(key: str, msg: str, cc: str | None = None):
            line = _line_of(text, cc if cc is not None else key)
            where = f" line {line}" if line else ""
            raise UserError(f"{path}:{where}: {key}: {msg}")

        for key in data:
            if key not in ("defaults", "cc"):
                fail(key, "unknown key (expected `defaults` and [cc.N] tables)")
        defaults = data.get("defaults", True)
        if not isinstance(defaults, bool):
            fail("defaults", "must be true or false")
        entries = default_map() if defaults else {}
        ccs = data.get("cc", {})
        if not isinstance(ccs, dict):
            fail("cc", "must be a table of CC numbers ([cc.74] or `74 = {...}` under [cc])")
        for cc_key, spec in ccs.items():
            key = f"cc.{cc_key}"
            if not cc_key.isdigit() or not (0 <= int(cc_key) <= 127):
                fail(key, "CC number must be an integer 0-127", cc_key)
            if not isinstance(spec, dict):
                fail(key, "must be a table with `target` and optional `range`", cc_key)
            for k in spec:
                if k not in ("target", "range"):
                    fail(key, f"unknown key {k!r} (expected target, range)", cc_key)
            if "target" not in spec:
                fail(key, "missing `target` (pc N, z N or gain)", cc_key)
            rng = spec.get("range")
            lo = hi = None
            if rng is not None:
                if (
                    not isinstance(rng, list)
                    or len(rng) != 2
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in rng)
                    or not all(abs(float(v)) < 1e6 for v in rng)
                ):
                    fail(key, "range must be two finite numbers [at CC 0, at CC 127]", cc_key)
                lo, hi = rng
            try:
                target = parse_target(spec["target"], lo, hi)
            except ValueError as e:
                fail(key, str(e), cc_key)
            bound = {"pc": n_pcs, "z": latent_dim}.get(target.kind)
            if bound is not None and not (0 <= target.index < bound):
                fail(key, f"{target.kind} index {target.index} out of range (model has {bound})", cc_key)
            entries[int(cc_key)] = target
        return cls(entries)


def _line_of(text: str, key: str) -> int | None:
    """1-based line where a key ([cc.74], `74 = ...`, `defaults = ...`) first appears, or None."""
    k = re.escape(key)
    pattern = re.compile(rf'^\s*(\[\s*cc\s*\.\s*"?{k}"?\s*\]|"?{k}"?\s*=|\[\s*{k}\s*\])')
    for i, line in enumerate(text.splitlines(), 1):
        if pattern.match(line):
            return i
    return None
