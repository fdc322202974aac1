"""Write the front ends from their one Python description: `python -m vaesynth.maxpatch.generate`.

Writes, next to this module: `vaesynth.maxpat` (the device's readable JSON source), `vaesynth.amxd` (the
same patcher in Live's container, see `amxd.py`), `pd/vaesynth.pd`, `pd/vaesynth-osc.pd` (sending) and
`pd/vaesynth-state.pd` (feedback). `--check` writes nothing and exits 1 if a committed file differs from
a fresh generation (as the tests do).
Edit `spec.py`, `maxdevice.py` or `puredata.py`, never the generated files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vaesynth.maxpatch import amxd, maxdevice, puredata

HERE = Path(__file__).resolve().parent
DEVICE_TYPE = "midi_effect"  # notes pass through to an instrument after it; the sound comes from the server


def maxpat_text() -> str:
    """The `.maxpat` file's text: Max's own JSON layout (tab indent, `"key" : value`)."""
    return json.dumps(maxdevice.build_patcher(), indent="\t", separators=(",", " : ")) + "\n"


def generated_files() -> dict[Path, bytes]:
    """Path (absolute) -> file content, for every generated file."""
    text = maxpat_text()
    return {
        HERE / "vaesynth.maxpat": text.encode("utf-8"),
        HERE / "vaesynth.amxd": amxd.pack_amxd(text, DEVICE_TYPE),
        HERE / "pd" / "vaesynth.pd": puredata.build_patch().encode("utf-8"),
        HERE / "pd" / f"{puredata.ABSTRACTION}.pd": puredata.build_abstraction().encode("utf-8"),
        HERE / "pd" / f"{puredata.STATE_ABSTRACTION}.pd": puredata.build_state_abstraction().encode("utf-8"),
    }


def stale_files() -> list[Path]:
    """Generated files whose committed content differs from a fresh generation (or that are missing)."""
    return [p for p, data in generated_files().items() if not p.exists() or p.read_bytes() != data]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vaesynth.maxpatch.generate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--check", action="store_true", help="only report files that differ; exit 1 if any")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"stale: {path}")  # noqa: T201 - command-line tool
        return 1 if stale else 0
    for path, data in generated_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"wrote {path} ({len(data)} bytes)")  # noqa: T201 - command-line tool
    return 0


if __name__ == "__main__":
    sys.exit(main())
