"""The `.amxd` container Ableton Live loads a Max for Live device from.

Layout (as Ableton's own maxdevtools `amxd_textconv.py` reads it): a flat sequence of chunks, each a 4-byte
ASCII tag, a 4-byte little-endian unsigned length (of the data only, not counting tag and length), then the
data; no padding between chunks. This module writes exactly three chunks, in this order:

| offset | bytes | content |
|---|---|---|
| 0  | 4 | `ampf` |
| 4  | 4 | length 4 (LE u32) |
| 8  | 4 | device type: `aaaa` audio effect, `mmmm` MIDI effect, `iiii` instrument |
| 12 | 4 | `meta` |
| 16 | 4 | length 4 (LE u32) |
| 20 | 4 | meta data: 0 (LE u32; what Max writes for an unfrozen, unencrypted device) |
| 24 | 4 | `ptch` |
| 28 | 4 | length n (LE u32) = len(JSON) + 1 |
| 32 | n | the patcher as UTF-8 JSON (`{"patcher": {...}}`, the `.maxpat` text), then one NUL byte |

Frozen devices hold an `mx@c` archive in `ptch` and encrypted ones a `ciph` chunk; neither is written here.
"""

from __future__ import annotations

import json
import struct

DEVICE_TYPES = {"audio_effect": b"aaaa", "midi_effect": b"mmmm", "instrument": b"iiii"}


def _chunk(tag: bytes, data: bytes) -> bytes:
    return tag + struct.pack("<I", len(data)) + data


def pack_amxd(maxpat_text: str, device_type: str = "midi_effect") -> bytes:
    """Wrap a `.maxpat` JSON text into `.amxd` bytes (layout in the module docstring)."""
    if device_type not in DEVICE_TYPES:
        raise ValueError(f"device_type must be one of {sorted(DEVICE_TYPES)}, got {device_type!r}")
    json.loads(maxpat_text)  # refuse to wrap something Max could not read
    return (
        _chunk(b"ampf", DEVICE_TYPES[device_type])
        + _chunk(b"meta", struct.pack("<I", 0))
        + _chunk(b"ptch", maxpat_text.encode("utf-8") + b"\0")
    )


def read_chunks(data: bytes) -> list[tuple[str, bytes]]:
    """Split `.amxd` bytes into [(tag, data)]; raises ValueError if a length runs past the end."""
    chunks, pos = [], 0
    while pos < len(data):
        if pos + 8 > len(data):
            raise ValueError(f"truncated chunk header at byte {pos}")
        tag = data[pos : pos + 4].decode("ascii")
        (n_bytes,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        if pos + 8 + n_bytes > len(data):
            raise ValueError(f"chunk {tag!r} at byte {pos} claims {n_bytes} bytes, file ends first")
        chunks.append((tag, data[pos + 8 : pos + 8 + n_bytes]))
        pos += 8 + n_bytes
    return chunks


def unpack_amxd(data: bytes) -> tuple[str, dict]:
    """(device_type name, patcher dict) from `.amxd` bytes written by `pack_amxd` or by Max."""
    chunks = dict(read_chunks(data))
    kind = {v: k for k, v in DEVICE_TYPES.items()}[chunks["ampf"]]
    body = chunks["ptch"]
    if body.endswith(b"\0"):
        body = body[:-1]
    return kind, json.loads(body.decode("utf-8"))
