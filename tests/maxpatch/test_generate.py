"""The committed front ends are exactly what the generator writes, and the shared description is sound."""

from __future__ import annotations

import pytest

from vaesynth.live.addresses import INPUT
from vaesynth.maxpatch import generate, spec


def test_committed_files_equal_a_fresh_generation():
    assert generate.stale_files() == [], "run: python -m vaesynth.maxpatch.generate"
    assert generate.main(["--check"]) == 0


def test_check_reports_an_edited_file(tmp_path, monkeypatch):
    monkeypatch.setattr(generate, "HERE", tmp_path)
    assert generate.main(["--check"]) == 1  # nothing written there yet
    assert generate.main([]) == 0
    assert generate.main(["--check"]) == 0
    (tmp_path / "pd" / "vaesynth.pd").write_text("#N canvas 0 0 10 10 12;\n")
    assert generate.stale_files() == [tmp_path / "pd" / "vaesynth.pd"]


@pytest.mark.parametrize(
    "address, tags, accepted",
    [
        ("/vaesynth/pc", "if", True),
        ("/vaesynth/pc", "fff", True),  # f*: the first k coordinates
        ("/vaesynth/pc", "fi", False),
        ("/vaesynth/pc", "", False),
        ("/vaesynth/note", "ii", True),
        ("/vaesynth/note", "if", False),
        ("/vaesynth/panic", "", True),
        ("/vaesynth/engine", "s", True),
        ("/vaesynth/feedback", "si", True),
        ("/vaesynth/nothing", "", False),
    ],
)
def test_types_accepted_reads_the_address_table(address, tags, accepted):
    assert spec.types_accepted(address, tags) is accepted


def test_every_sent_message_is_a_served_address_and_form():
    for name, tags in spec.SENT.items():
        assert spec.address(name) in INPUT and spec.types_accepted(spec.address(name), tags)
    with pytest.raises(KeyError):
        spec.address("nothing")
