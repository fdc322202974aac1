"""The Pure Data patch: parsed as Pd reads it, object inlets/outlets checked against Pd itself, and run in a
real `pd -nogui` that sends OSC to a UDP port this test listens on."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from pythonosc.parsing import osc_types

from vaesynth.live.addresses import INPUT
from vaesynth.maxpatch import generate, puredata, spec

PD = shutil.which("pd")
needs_pd = pytest.mark.skipif(PD is None, reason="Pure Data (pd) is not installed")
PD_DIR = generate.HERE / "pd"
FIXTURE = Path(__file__).resolve().parent / "osc_send_test.pd"
FEEDBACK_FIXTURE = Path(__file__).resolve().parent / "osc_feedback_test.pd"
PD_TIMEOUT_S = 30
FAILED = re.compile(r"(\d+) (\d+) (\d+) (\d+) \(.*\) connection failed")


def records(text: str) -> list[str]:
    """Pd records: `#X ...;` split at unescaped semicolons that end a line."""
    assert text.endswith(";\n")
    return [r.replace("\n", " ") for r in re.split(r"(?<!\\);\n", text[:-2] + "\n") if r]


def parse(text: str) -> tuple[list[tuple[str, list[str]]], list[tuple[int, int, int, int]]]:
    """Top-level objects [(kind, atoms)] in index order, and connects; subpatches count as one object."""
    objects, connects, depth = [], [], 0
    for i, rec in enumerate(records(text)):
        head, *atoms = rec.split()
        assert head in ("#N", "#X", "#A"), rec
        if head == "#N":
            depth += i > 0  # the first #N canvas is the patch itself
            continue
        if head == "#A" or depth > 0 and atoms[0] != "restore":
            continue
        kind = atoms[0]
        if kind == "restore":
            depth -= 1
            objects.append(("graph", atoms[3:]))
        elif kind in ("obj", "msg", "text", "floatatom", "symbolatom"):
            objects.append((kind, atoms[3:]))
        elif kind == "connect":
            connects.append(tuple(int(a) for a in atoms[1:5]))
        else:
            assert kind in ("declare", "coords"), rec
    assert depth == 0
    return objects, connects


def io_counts(kind: str, atoms: list[str]) -> tuple[int, int]:
    if kind == "msg":
        return 1, 1
    if kind in ("text", "graph"):
        return 0, 0
    name, *args = atoms
    if name in ABSTRACTIONS:
        return ABSTRACTIONS[name]
    return puredata.PD_OBJECTS[name](args)


ABSTRACTIONS = {puredata.ABSTRACTION: (1, 1), puredata.STATE_ABSTRACTION: (1, 0)}  # (inlets, outlets)
PATCHES = [
    PD_DIR / "vaesynth.pd",
    PD_DIR / f"{puredata.ABSTRACTION}.pd",
    PD_DIR / f"{puredata.STATE_ABSTRACTION}.pd",
    FIXTURE,
    FEEDBACK_FIXTURE,
]


@pytest.mark.parametrize("path", PATCHES, ids=lambda p: p.name)
def test_pd_file_parses_and_every_connect_joins_existing_inlets(path):
    objects, connects = parse(path.read_text())
    assert connects
    for source, outlet, sink, inlet in connects:
        assert 0 <= source < len(objects) and 0 <= sink < len(objects)
        assert outlet < io_counts(*objects[source])[1], (objects[source], outlet)
        assert inlet < io_counts(*objects[sink])[0], (objects[sink], inlet)


def test_pd_patches_send_only_served_addresses():
    sent = set()
    for path in PATCHES[:3]:
        for kind, atoms in parse(path.read_text())[0]:
            if kind == "obj" and atoms[0] == "oscformat":
                args = atoms[3:] if atoms[1] == "-f" else atoms[1:]
                types = atoms[2] if atoms[1] == "-f" else ""
                address = "/" + "/".join(args)
                assert spec.types_accepted(address, types), (address, types)
                sent.add(address)
    assert sent == {spec.address(name) for name in spec.SENT} and sent <= set(INPUT)


def run_pd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PD, "-nogui", "-nosound", "-nomidi", "-stderr", *args],
        capture_output=True,
        text=True,
        timeout=PD_TIMEOUT_S,
        check=False,
    )


@needs_pd
def test_installed_pd_has_oscformat():
    version = run_pd("-version")
    major, minor = map(int, re.search(r"Pd-(\d+)\.(\d+)", version.stdout + version.stderr).groups())
    assert (major, minor) >= (0, 46)


@needs_pd
def test_pd_object_table_matches_pd(tmp_path):
    """Cords to the last inlet/outlet of each object must connect; one past it must fail, in Pd itself."""
    texts = sorted(
        {
            " ".join(atoms)
            for p in PATCHES
            for kind, atoms in parse(p.read_text())[0]
            if kind == "obj" and atoms[0] not in (*ABSTRACTIONS, "declare")
        }
    )
    lines, expected_failures, n = ["#N canvas 0 50 400 400 12;"], set(), 0
    for text in texts:
        name, *args = text.split()
        if name == "netreceive":
            text = " ".join(a for a in text.split() if not a.isdigit())  # do not bind a port
        n_in, n_out = puredata.PD_OBJECTS[name](args)
        lines += ["#X obj 0 0 t a;", f"#X obj 0 0 {text};", "#X obj 0 0 t a;"]
        before, obj, after = n, n + 1, n + 2
        n += 3
        for inlet in ([n_in - 1] if n_in else []) + [n_in]:
            lines.append(f"#X connect {before} 0 {obj} {inlet};")
        for outlet in ([n_out - 1] if n_out else []) + [n_out]:
            lines.append(f"#X connect {obj} {outlet} {after} 0;")
        expected_failures |= {(before, 0, obj, n_in), (obj, n_out, after, 0)}
    probe = tmp_path / "probe.pd"
    probe.write_text("\n".join(lines) + "\n")
    result = run_pd("-open", str(probe), "-send", "pd quit")
    failures = {tuple(map(int, m.groups())) for m in FAILED.finditer(result.stderr)}
    assert "couldn't create" not in result.stderr, result.stderr
    assert failures == expected_failures, result.stderr


class Listener:
    """A UDP socket on an ephemeral port; `messages()` drains what arrived as (address, type tags, args)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def messages(self) -> list[tuple[str, str, list]]:
        from pythonosc.osc_message import OscMessage

        out = []
        self.sock.settimeout(1.0)
        try:
            while True:
                data, _ = self.sock.recvfrom(65536)
                address, index = osc_types.get_string(data, 0)
                tags, _ = osc_types.get_string(data, index)
                out.append((address, tags.lstrip(","), OscMessage(data).params))
        except socket.timeout:
            pass
        finally:
            self.sock.close()
        return out


@needs_pd
def test_pd_sending_part_speaks_the_osc_contract():
    """The test patch drives the user patch's sending abstraction; a UDP listener checks every message."""
    listener = Listener()
    result = run_pd("-open", str(FIXTURE), "-send", f"vaesynth-test-port {listener.port}", "-send", "pd quit")
    got = listener.messages()
    assert "couldn't create" not in result.stderr and "connection failed" not in result.stderr, result.stderr
    assert got == [
        ("/vaesynth/note", "ii", [60, 100]),
        ("/vaesynth/pc", "if", [3, 1.5]),
        ("/vaesynth/gain", "f", [-6.0]),
        ("/vaesynth/engine", "s", ["istft"]),
        ("/vaesynth/bend", "f", [0.5]),
        ("/vaesynth/panic", "", []),
        ("/vaesynth/feedback", "i", [9001]),
    ]
    assert {a for a, _, _ in got} == {spec.address(name) for name in spec.SENT}
    for address, tags, _ in got:
        assert spec.types_accepted(address, tags)


@needs_pd
def test_pd_user_patch_sliders_send_pc_and_gain():
    """Open the user patch itself, point it at the listener, move its sliders through their receive names."""
    listener = Listener()
    result = run_pd(
        "-open",
        str(PD_DIR / "vaesynth.pd"),
        "-send",
        "vaesynth disconnect",
        "-send",
        f"vaesynth connect 127.0.0.1 {listener.port}",
        "-send",
        "vaesynth-pc3 1.5",
        "-send",
        "vaesynth-pc0 -5",  # clipped to -3
        "-send",
        "vaesynth-gain -6",
        "-send",
        "vaesynth note 61 0",
        "-send",
        "pd quit",
    )
    got = listener.messages()
    assert "couldn't create" not in result.stderr and "connection failed" not in result.stderr, result.stderr
    assert [(a, t) for a, t, _ in got] == [
        ("/vaesynth/pc", "if"),
        ("/vaesynth/pc", "if"),
        ("/vaesynth/gain", "f"),
        ("/vaesynth/note", "ii"),
    ]
    pc_step = 2 * spec.PC_RANGE_STD / 127  # one pixel of a 128-pixel slider
    gain_step = (spec.GAIN_RANGE_DB[1] - spec.GAIN_RANGE_DB[0]) / 127
    assert got[0][2][0] == 3 and got[0][2][1] == pytest.approx(1.5, abs=pc_step)
    assert got[1][2] == [0, pytest.approx(-3.0, abs=1e-6)]
    assert got[2][2][0] == pytest.approx(-6.0, abs=gain_step)
    assert got[3][2] == [61, 0]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_pd
def test_pd_feedback_part_sets_the_pc_sliders():
    """Send /vaesynth/state/pc to the receiving abstraction; the value set on slider PC2 comes back."""
    from pythonosc.udp_client import SimpleUDPClient

    listener = Listener()
    listener.sock.settimeout(0.1)
    state_port = free_udp_port()
    pd = subprocess.Popen(
        [
            PD,
            "-nogui",
            "-nosound",
            "-nomidi",
            "-stderr",
            "-open",
            str(FEEDBACK_FIXTURE),
            "-send",
            f"vaesynth-test-port {listener.port}",
            "-send",
            f"vaesynth-test-listen {state_port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    client = SimpleUDPClient("127.0.0.1", state_port)
    pcs = [0.5, -1.25, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0]  # more PCs than sliders: the first 8 are shown
    reply = None
    try:
        for _ in range(100):  # pd needs a moment to start listening; the fixture quits after its reply
            client.send_message("/vaesynth/state/pc", pcs)
            try:
                reply = listener.sock.recvfrom(65536)[0]
                break
            except socket.timeout:
                continue
    finally:
        _, stderr = pd.communicate(timeout=PD_TIMEOUT_S)
        listener.sock.close()
    assert reply is not None, stderr
    address, index = osc_types.get_string(reply, 0)
    tags, _ = osc_types.get_string(reply, index)
    from pythonosc.osc_message import OscMessage

    assert (address, tags, OscMessage(reply).params) == ("/vaesynth/pc", ",if", [1, -1.25])
