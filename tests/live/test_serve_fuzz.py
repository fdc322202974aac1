"""10,000 fuzzed OSC packets and a stream of garbage MIDI against a playing `vaesynth serve`: it keeps
running, its output stays finite and within [-1, 1], the drops are counted, and it still plays in tune."""

from __future__ import annotations

import json
import struct
import time

import mido
import numpy as np
import soundfile as sf
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from tests.live.conftest import ServeProcess
from tests.live.test_serve_midi import JackMidiSource
from vaesynth.datasets.pitch import cents_between, estimate_f0
from vaesynth.live.osc import encode_message

RATE = 48000
N_PACKETS = 10_000
ADDRESSES = ["note", "z", "pc", "bend", "gain", "engine", "panic", "sustain", "info", "feedback", "learn"]
WEIRD = [
    float("nan"),
    float("inf"),
    float("-inf"),
    1e38,
    -1e38,
    2**31 - 1,
    -(2**31),
    -1,
    10**6,
    "x" * 300,
    b"\x00\xff" * 20,
    True,
    False,
    None,
]


def _message(address: str, args) -> bytes:
    b = OscMessageBuilder(address=address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


def fuzz_packets(rng: np.random.Generator, n: int):
    """n datagrams: wrong types, NaN/inf, huge and negative indices, wrong arity, unknown addresses,
    truncated packets, random bytes, oversized bundles (kinds in turn, contents random)."""
    valid = encode_message("/vaesynth/pc", [0, 1.0])
    for i in range(n):
        kind = i % 8
        if kind == 0:  # a known address, arguments drawn from the weird set
            args = [WEIRD[j] for j in rng.integers(0, len(WEIRD), rng.integers(0, 5))]
            yield _message("/vaesynth/" + ADDRESSES[rng.integers(len(ADDRESSES))], args)
        elif kind == 1:  # indices far out of range
            yield _message(
                "/vaesynth/" + ("pc", "z")[i % 2], [int(rng.choice([-1, -(2**31), 2**31 - 1, 99])), 0.5]
            )
        elif kind == 2:  # float vectors of the wrong length / huge
            yield _message("/vaesynth/pc", [float(v) for v in rng.normal(0, 1e6, rng.integers(5, 200))])
        elif kind == 3:  # unknown addresses
            yield _message("/vaesynth/" + "".join(map(chr, rng.integers(97, 123, 8))), [1.0])
        elif kind == 4:  # truncated packets
            yield valid[: rng.integers(1, len(valid))]
        elif kind == 5:  # random bytes, sometimes starting like OSC
            raw = rng.integers(0, 256, rng.integers(1, 512), dtype=np.uint8).tobytes()
            yield (b"/vaesynth/note\x00\x00,ii\x00" + raw) if i % 16 == 5 else raw
        elif kind == 6 and i % 48 == 6:  # an oversized bundle: ~60 KB of messages
            bb = OscBundleBuilder(IMMEDIATELY)
            for _ in range(2400):
                bb.add_content(OscMessageBuilder("/vaesynth/bend").build())
            yield bb.build().dgram[:65000]
        elif kind == 6:  # a bundle whose declared element size lies
            yield b"#bundle\x00" + b"\x00" * 8 + struct.pack(">i", 1 << 30) + b"/x\x00\x00"
        else:  # wrong type tags for the address
            yield _message("/vaesynth/note", ["sixty", "loud"])


def test_serve_survives_fuzzed_osc_and_garbage_midi(tiny_model, jack_server, tmp_path):
    rec = tmp_path / "record.wav"
    name = "vstfuzz"
    server = ServeProcess(
        [
            "--model",
            str(tiny_model),
            "--midi-in",
            "virtual",
            "--record",
            str(rec),
            "--lead",
            "256",
            "--info-on-exit",
            str(tmp_path / "exit.json"),
        ],
        tmp_path / "serve.log",
        name,
    )
    src = None
    try:
        c = server.client
        c.send("/vaesynth/note", 57, 100)
        rng = np.random.default_rng(5)
        src = JackMidiSource("vstfuzzsrc", f"{name}-midi:in")
        sent = 0
        for k, packet in enumerate(fuzz_packets(rng, N_PACKETS)):
            c.send_raw(packet)
            sent += 1
            if k % 50 == 0:
                time.sleep(0.01)  # ~2 s for all: faster than any controller
            if k % 20 == 0:  # garbage MIDI alongside: random bytes, unknown CCs, sysex floods
                for data in (
                    [int(b) for b in rng.integers(0, 256, rng.integers(1, 4))],
                    mido.Message("control_change", control=int(rng.integers(0, 128)), value=5).bytes(),
                    [0xF0] + [int(b) for b in rng.integers(0, 128, 200)] + [0xF7],
                ):
                    try:
                        src.send_raw(data)
                    except Exception:  # python-rtmidi refuses some byte strings itself
                        pass
        assert sent == N_PACKETS
        time.sleep(0.5)
        info = c.info()
        # still playing, in tune: a clean note after the storm
        for address, args in (
            ("/vaesynth/panic", []),
            ("/vaesynth/gain", [0.0]),
            ("/vaesynth/bend", [0.0]),
            ("/vaesynth/sustain", [0]),
        ):
            c.send(address, *args)
        time.sleep(0.3)
        c.send("/vaesynth/note", 69, 100)
        time.sleep(0.8)
        c.send("/vaesynth/note", 69, 0)
        time.sleep(0.3)
        assert server.proc.poll() is None, server.output()
        rc = server.terminate()
        exit_info = json.loads((tmp_path / "exit.json").read_text())
    finally:
        if src is not None:
            src.close()
        server.kill()
    assert rc == 0, server.output()

    dropped = info["dropped"]
    # UDP may lose packets in the kernel under load; the server must have seen nearly all of them
    assert info["osc_packets"] >= 0.9 * N_PACKETS, info
    assert dropped["osc_packets"].get("malformed packet", 0) >= 500  # truncated + random bytes
    assert dropped["osc_packets"].get("oversized packet", 0) > 0  # the 60 KB bundles
    for reason in ("wrong type", "not finite", "index out of range", "unknown address", "wrong arity"):
        assert dropped["osc"].get(reason, 0) > 0, (reason, dropped)
    assert dropped["midi"].get("malformed", 0) + dropped["midi"].get("ignored sysex", 0) > 0, dropped
    assert dropped["midi"].get("unmapped CC", 0) > 0, dropped
    assert info["received"].get("control errors", 0) == 0

    x, rate = sf.read(rec, dtype="float32")
    assert rate == RATE and len(x) == exit_info["frames_played"]
    assert np.all(np.isfinite(x)) and np.abs(x).max() <= 1.0
    # the last note: walk back from its loudest sample to the silence that panic left before it
    tail = x[-int(2.0 * RATE) :]
    env = np.sqrt(np.convolve(tail**2, np.ones(480) / 480, mode="same"))  # 10 ms RMS: no zero crossings
    peak = int(np.argmax(env))
    quiet = np.flatnonzero(env[:peak] < 1e-3 * env[peak])
    on = int(quiet[-1]) + 1
    assert peak - on < 0.8 * RATE
    seg = tail[on + int(0.15 * RATE) : on + int(0.65 * RATE)]
    f, _ = estimate_f0(seg, RATE, 256)
    voiced = f[np.isfinite(f)]
    assert voiced.size > 0.9 * f.size
    assert abs(cents_between(np.median(voiced), 440.0)) < 5.0
