"""The `.amxd` container, checked byte by byte against the layout Ableton's maxdevtools reader expects."""

from __future__ import annotations

import json
import struct

import pytest

from vaesynth.maxpatch import amxd, generate


def test_committed_amxd_matches_ableton_chunk_layout():
    data = (generate.HERE / "vaesynth.amxd").read_bytes()
    maxpat = (generate.HERE / "vaesynth.maxpat").read_bytes()
    # Fixed 32-byte header: ampf/4/mmmm, meta/4/0, ptch/len.
    assert data[0:4] == b"ampf" and struct.unpack("<I", data[4:8]) == (4,) and data[8:12] == b"mmmm"
    assert data[12:16] == b"meta" and struct.unpack("<I", data[16:20]) == (4,) and data[20:24] == bytes(4)
    assert data[24:28] == b"ptch"
    (n_bytes,) = struct.unpack("<I", data[28:32])
    assert n_bytes == len(data) - 32 == len(maxpat) + 1
    assert data[32:-1] == maxpat and data[-1:] == b"\0" and b"\0" not in data[32:-1]
    assert [tag for tag, _ in amxd.read_chunks(data)] == ["ampf", "meta", "ptch"]
    assert json.loads(data[32:-1])["patcher"]["boxes"]


@pytest.mark.parametrize(
    "device_type, tag", [("audio_effect", b"aaaa"), ("midi_effect", b"mmmm"), ("instrument", b"iiii")]
)
def test_pack_amxd_round_trips_every_device_type(device_type, tag):
    text = json.dumps({"patcher": {"boxes": [], "lines": []}})
    data = amxd.pack_amxd(text, device_type)
    assert data[8:12] == tag
    assert amxd.unpack_amxd(data) == (device_type, json.loads(text))


def test_read_chunks_refuses_a_length_past_the_end():
    data = amxd.pack_amxd('{"patcher": {}}')
    with pytest.raises(ValueError, match="ptch"):
        amxd.read_chunks(data[:-3])
    with pytest.raises(ValueError, match="truncated"):
        amxd.read_chunks(data + b"pt")


def test_pack_amxd_refuses_text_max_could_not_read():
    with pytest.raises(ValueError):
        amxd.pack_amxd("{not json")
    with pytest.raises(ValueError, match="device_type"):
        amxd.pack_amxd("{}", "sampler")
