"""In-process checks of the OSC receiver's parsing, the display spectrum's dB scale, and the default-model
error of `serve`."""

from __future__ import annotations

import numpy as np
import pytest
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from vaesynth import cli
from vaesynth.live.feedback import SpectrumBands
from vaesynth.live.osc import MAX_MESSAGES_PER_PACKET, OscReceiver, encode_message
from vaesynth.synth.config import SpectralConfig
from vaesynth.synth.gesture import GestureOnset
from vaesynth.synth.spectral import magnitude


@pytest.fixture
def receiver():
    got = []
    r = OscReceiver("127.0.0.1", 0, lambda a, args, sender, t: got.append((a, args)))
    r.got = got
    yield r
    r.sock.close()


def test_receiver_passes_messages_and_bundles_and_counts_garbage(receiver):
    receiver.handle_datagram(encode_message("/vaesynth/note", [60, 100]), ("h", 1), 0.0)
    bb = OscBundleBuilder(IMMEDIATELY)
    for i in range(MAX_MESSAGES_PER_PACKET + 10):
        mb = OscMessageBuilder("/vaesynth/pc")
        mb.add_arg(i % 4)
        mb.add_arg(0.5)
        bb.add_content(mb.build())
    receiver.handle_datagram(bb.build().dgram, ("h", 1), 0.0)
    for garbage in (b"", b"\x00" * 3, b"/vaesynth/no", b"#bundle\x00" + b"\xff" * 20, b"\x80" * 70000):
        receiver.handle_datagram(garbage, ("h", 1), 0.0)
    assert receiver.got[0] == ("/vaesynth/note", [60, 100])
    assert len(receiver.got) == 1 + MAX_MESSAGES_PER_PACKET
    assert receiver.stats["too many messages"] == 10
    assert receiver.stats["oversized packet"] == 1
    assert receiver.stats["malformed packet"] == 4


def test_binding_all_interfaces_warns():
    with pytest.warns(UserWarning, match="anyone on the network"):
        r = OscReceiver("0.0.0.0", 0, lambda *a: None)
    r.sock.close()


def test_spectrum_bands_read_0_db_for_a_full_scale_sine_and_the_floor_for_silence():
    config = SpectralConfig(sample_rate=48000, n_fft=1024, hop_length=256)
    t = np.arange(8192) / 48000
    f0_hz = 48000 / 1024 * 40  # on a bin centre
    mags = magnitude(np.sin(2 * np.pi * f0_hz * t).astype(np.float32), config)[10]
    bands = SpectrumBands(config)
    db = bands(mags)
    assert db.shape == (64,)
    assert db.max() == pytest.approx(0.0, abs=0.1)  # a sine of amplitude 1 reads full scale
    hz = np.geomspace(30.0, 24000.0, 65)
    peak_band = int(np.argmax(db))
    assert hz[peak_band] <= f0_hz * 1.05 and hz[peak_band + 1] >= f0_hz * 0.95
    assert np.all(bands(np.zeros_like(mags)) == -100.0)


def test_serve_without_model_and_without_the_bundled_one_is_a_one_line_error(monkeypatch, tmp_path, capsys):
    import vaesynth.models.instrument as instrument

    monkeypatch.setattr(instrument, "default_model_path", lambda: tmp_path / "default.pt")
    assert cli.main(["serve", "--midi-in", "none"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "bundled default model is missing" in err and "--model" in err


def test_feedback_registration_takes_ip_addresses_never_host_names(tiny_model):
    from vaesynth.live.server import ServeOptions, Server
    from vaesynth.models.instrument import load_instrument
    from vaesynth.synth.engine import Engine

    server = Server(load_instrument(tiny_model), Engine(48000), ServeOptions(), log=lambda *a: None)
    sender = ("127.0.0.1", 5555)
    server._handle_osc("/vaesynth/feedback", ["127.0.0.1", 9001], sender, 0.0)
    server._handle_osc("/vaesynth/feedback", [9002], sender, 0.0)
    server._handle_osc("/vaesynth/feedback", ["some.host.name", 9003], sender, 0.0)  # no DNS in the loop
    server._handle_osc("/vaesynth/feedback", ["127.0.0.1", 70000], sender, 0.0)
    assert server.feedback.clients == [("127.0.0.1", 9001), ("127.0.0.1", 9002)]
    assert server.osc_dropped["bad /feedback"] == 2
    server._handle_osc("/vaesynth/feedback", [0], sender, 0.0)  # port 0: this host stops
    assert server.feedback.clients == []


def _server(tiny_model):
    from vaesynth.live.server import ServeOptions, Server
    from vaesynth.models.instrument import load_instrument
    from vaesynth.synth.engine import Engine

    engine = Engine(48000)
    server = Server(load_instrument(tiny_model), engine, ServeOptions(), log=lambda *a: None)
    engine._inbox.clear()  # the initial timbre
    return server, engine


def _posted(engine) -> list[str]:
    return [event[0] for _, event in engine._inbox]


def test_osc_messages_with_nothing_queued_reach_the_engine_from_the_osc_thread(tiny_model):
    """No control thread running: a note and knob moves are applied inside osc_sink itself, and the burst of
    knob moves decodes one timbre, once the receiver reports its socket empty (osc_idle)."""
    server, engine = _server(tiny_model)
    sender = ("127.0.0.1", 5555)
    server.osc_sink("/vaesynth/note", [60, 100], sender, 0.0)
    assert _posted(engine) == ["note_on"]
    for v in np.linspace(-2.0, 2.0, 20):
        server.osc_sink("/vaesynth/pc", [0, float(v)], sender, 0.0)
    assert _posted(engine) == ["note_on"]  # knob moves only mark the timbre dirty
    assert server.controls.pcs()[0] == pytest.approx(2.0, abs=1e-5)
    server.osc_idle()
    server.osc_idle()
    assert _posted(engine) == ["note_on", "timbre"]
    assert server.counts["osc applied"] == 21 and server.queue.unfinished_tasks == 0


def test_osc_messages_queue_behind_queued_ones_and_keep_their_order(tiny_model):
    """While a MIDI message waits for the control thread, OSC messages queue behind it instead of
    overtaking it; the control thread then applies all of them in arrival order."""
    server, engine = _server(tiny_model)
    sender = ("127.0.0.1", 5555)
    server.midi_sink([0x90, 60, 100], 0.0)  # note on, queued (rtmidi's thread never handles anything)
    server.osc_sink("/vaesynth/note", [60, 0], sender, 0.0)  # its note off must come after it
    server.osc_sink("/vaesynth/note", [62, 90], sender, 0.0)
    assert _posted(engine) == [] and server.queue.unfinished_tasks == 3
    server.start()
    try:
        assert server.wait_idle(5.0)
    finally:
        server.stop()
    notes = [event[:2] for _, event in engine._inbox if event[0] != "timbre"]
    assert notes == [("note_on", 60), ("note_off", 60), ("note_on", 62)]


def test_receiver_calls_idle_once_its_socket_is_empty():
    """Three datagrams already waiting: all three reach the sink, then idle runs once (not per datagram)."""
    import socket
    import time

    got, idle = [], []
    r = OscReceiver(
        "127.0.0.1", 0, lambda a, args, sender, t: got.append(args), lambda: idle.append(len(got))
    )
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for i in range(3):
            client.sendto(encode_message("/vaesynth/pc", [0, float(i)]), ("127.0.0.1", r.port))
        r.start()
        deadline = time.monotonic() + 5.0
        while not idle and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        r.stop()
        client.close()
    assert [a[1] for a in got] == [0.0, 1.0, 2.0]
    assert idle == [3]


def test_receiver_marks_a_datagram_pending_from_arrival_until_handled():
    """`pending` (the engine's `incoming`): +1 when a datagram arrives, settled once it and idle are done, so
    the audio callback can wait for it from the moment it arrives."""
    import socket
    import time

    import numpy as np

    pending = np.zeros(2, np.int64)
    seen, idle_seen = [], []
    r = OscReceiver(
        "127.0.0.1",
        0,
        lambda a, args, sender, t: seen.append(tuple(pending)),
        lambda: idle_seen.append(tuple(pending)),
        pending,
    )
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        r.start()
        for i in range(2):
            client.sendto(encode_message("/vaesynth/note", [60, 100]), ("127.0.0.1", r.port))
            deadline = time.monotonic() + 5.0
            while pending[1] < i + 1 and time.monotonic() < deadline:
                time.sleep(0.005)
        client.sendto(b"garbage", ("127.0.0.1", r.port))  # malformed: still settled
        deadline = time.monotonic() + 5.0
        while pending[1] < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
    finally:
        r.stop()
        client.close()
    assert seen == [(1, 0), (2, 1)] and idle_seen[:2] == [(1, 0), (2, 1)]
    assert tuple(pending) == (3, 3) and r.stats["malformed packet"] == 1


def test_receiver_settles_at_once_what_the_audio_callback_need_not_wait_for():
    """With `wait_for`, a message to another address (a knob move) is not counted as on its way, one to a note
    is until handled, and a bundle holding a note is too."""
    import socket
    import time

    import numpy as np
    from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
    from pythonosc.osc_message_builder import OscMessageBuilder

    pending = np.zeros(2, np.int64)
    seen = []
    r = OscReceiver(
        "127.0.0.1",
        0,
        lambda a, args, sender, t: seen.append((a, tuple(pending))),
        None,
        pending,
        wait_for=frozenset({"/vaesynth/note"}),
    )

    def bundle(*messages):
        b = OscBundleBuilder(IMMEDIATELY)
        for address, args in messages:
            m = OscMessageBuilder(address)
            for a in args:
                m.add_arg(a)
            b.add_content(m.build())
        return b.build().dgram

    datagrams = (
        (encode_message("/vaesynth/pc", [0, 1.5]), 1),
        (encode_message("/vaesynth/note", [60, 100]), 2),
        (bundle(("/vaesynth/pc", [0, 1.0]), ("/vaesynth/note", [60, 100])), 4),
        (bundle(("/vaesynth/pc", [1, 1.0]), ("/vaesynth/pc", [2, 1.0])), 6),
    )
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        r.start()
        for data, n_seen in datagrams:
            client.sendto(data, ("127.0.0.1", r.port))
            deadline = time.monotonic() + 5.0
            while (len(seen) < n_seen or pending[0] != pending[1]) and time.monotonic() < deadline:
                time.sleep(0.005)
    finally:
        r.stop()
        client.close()
    assert seen == [
        ("/vaesynth/pc", (0, 0)),  # never counted
        ("/vaesynth/note", (1, 0)),  # on its way until handled
        ("/vaesynth/pc", (2, 1)),  # a bundle with a note in it: on its way until all of it is handled
        ("/vaesynth/note", (2, 1)),
        ("/vaesynth/pc", (3, 3)),  # a bundle without one: settled once parsed, before its handlers run
        ("/vaesynth/pc", (3, 3)),
    ]
    assert r.stats["messages"] == 6


def test_receiver_counts_a_knob_move_only_as_a_gesture_s_first_move():
    """With `wait_on_onset`, a /pc datagram after a pause is on its way until handled (the audio callback
    may wait for it); the moves that follow it closely are a stream and are not counted."""
    import socket
    import time

    import numpy as np

    pending = np.zeros(2, np.int64)
    seen = []
    r = OscReceiver(
        "127.0.0.1",
        0,
        lambda a, args, sender, t: seen.append((args[1], tuple(pending))),
        None,
        pending,
        wait_for=frozenset({"/vaesynth/note"}),
        wait_on_onset=frozenset({"/vaesynth/pc"}),
    )
    r.gesture.gap_s = 0.5  # a pause of 0.5 s starts a gesture (a host stall here must not start one)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        r.start()
        for k, pause_s in enumerate((0.0, 0.0, 0.0, 0.7, 0.0)):
            time.sleep(pause_s)
            client.sendto(encode_message("/vaesynth/pc", [0, float(k)]), ("127.0.0.1", r.port))
            deadline = time.monotonic() + 5.0
            while (len(seen) <= k or pending[0] != pending[1]) and time.monotonic() < deadline:
                time.sleep(0.002)
    finally:
        r.stop()
        client.close()
    assert seen == [(0.0, (1, 0)), (1.0, (1, 1)), (2.0, (1, 1)), (3.0, (2, 1)), (4.0, (2, 2))]


def test_gesture_onset_is_the_first_move_after_a_pause():
    from vaesynth.synth.gesture import ONSET_GAP_S, GestureOnset

    g = GestureOnset()
    times = [0.0, 0.01, 0.03, 0.05, 0.2, 0.2 + ONSET_GAP_S * 0.99, 1.0]
    # a stream 10-20 ms apart keeps going: only its first move and the moves after a pause start gestures
    assert [g.onset(t) for t in times] == [True, False, False, False, True, False, True]
    never = GestureOnset(float("inf"))
    assert not any(never.onset(t) for t in (0.0, 10.0, 1e6))
    with pytest.raises(ValueError):
        GestureOnset(0.0)


def test_stream_moves_are_waited_for_while_the_callbacks_waits_pay_off():
    """Once it watches the audio callback's wait counters, a lone move within a stream is waited for while
    few waits run out; the rest of a burst (moves sent together) never is; waits that run out stop it, and
    it tries again once the share of run-outs has decayed (synth/gesture.py)."""
    from vaesynth.synth.gesture import BURST_GAP_S, RUNOUT_DECAY_S

    counters = [0, 0]  # (callbacks that waited, of which ran out)
    g = GestureOnset()
    stream = [0.0, 0.01, 0.02]
    assert [g.onset(t) for t in stream] == [True, False, False]  # not watching: onsets only
    g.watch(lambda: tuple(counters))
    # a knob stream 10 ms apart, every wait landing in time: every move is waited for
    t, decisions = 0.03, []
    for _ in range(20):
        counters[0] += 1
        decisions.append(g.onset(t))
        t += 0.01
    assert all(decisions)
    # a burst: moves closer than BURST_GAP_S after the first are not waited for
    assert g.onset(t) and not g.onset(t + BURST_GAP_S / 2) and not g.onset(t + BURST_GAP_S * 0.9)
    # waits running out: after a few, stream moves are left alone (onsets still count)
    t += 0.01
    decisions = []
    for _ in range(10):
        counters[0] += 1
        counters[1] += 1
        decisions.append(g.onset(t))
        t += 0.01
    assert decisions[0] and not decisions[-1]
    assert g.onset(t + 1.0)  # a pause: a gesture's first move, waited for whatever the share
    # left alone, the share decays: about RUNOUT_DECAY_S * ln(share / limit) later it tries again
    t += 1.0
    probes = []
    for _ in range(400):
        t += 0.01
        probes.append(g.onset(t))
    first = probes.index(True)
    assert 0 < first * 0.01 < 3 * RUNOUT_DECAY_S
    # a counter jump of many waits at once weighs each (an average over waits, not over calls)
    g2 = GestureOnset()
    c2 = [0, 0]
    g2.watch(lambda: tuple(c2))
    g2.onset(0.0)
    c2[:] = [100, 50]
    assert not g2.onset(0.01)
    g2.watch(None)
    assert not g2.onset(0.02) and g2.onset(1.0)


def test_server_hands_the_callbacks_wait_counters_to_every_gesture_detector(tiny_model):
    """`Server.watch_waits` (serve calls it once the stream runs): the engine's, the MIDI path's and the OSC
    receiver's gesture detectors then wait for lone stream moves while the callback's waits pay off."""
    from types import SimpleNamespace

    from vaesynth.live.server import ServeOptions, Server
    from vaesynth.models.instrument import load_instrument
    from vaesynth.synth.engine import Engine

    engine = Engine(48000, rewind=True)
    server = Server(load_instrument(tiny_model), engine, ServeOptions(), log=lambda *a: None)
    server.osc = SimpleNamespace(gesture=GestureOnset())
    server.audio = SimpleNamespace(event_waits=(0, 0))
    gestures = (engine._onset, server._midi_onset, server.osc.gesture)
    t0 = 1e9  # later than anything the engine posted at start-up (its own clock, perf_counter)
    for g in gestures:  # before: a stream's second move is never waited for
        assert g.onset(t0) and not g.onset(t0 + 0.01)
    server.watch_waits()
    for g in gestures:
        assert g.onset(t0 + 0.02)  # now it is, while no wait ran out
    server.audio.event_waits = (20, 20)
    for g in gestures:
        assert not g.onset(t0 + 0.03)  # twenty waits ran out: left alone


def test_queued_messages_are_on_their_way_until_the_control_thread_has_worked_the_queue(tiny_model):
    """With a rewinding engine, MIDI (and OSC queued behind it) counts as on its way to the engine from the
    moment it is queued until the control thread has handled the queue (`Engine.incoming_queued`: what the
    native callback waits on); without rewind there is nothing to count."""
    import time

    from vaesynth.live.server import ServeOptions, Server
    from vaesynth.models.instrument import load_instrument
    from vaesynth.synth.engine import Engine

    engine = Engine(48000, rewind=True)
    server = Server(load_instrument(tiny_model), engine, ServeOptions(), log=lambda *a: None)
    queued = engine.incoming_queued
    server.midi_sink([0x90, 60, 100], 0.0)
    server.osc_sink("/vaesynth/note", [60, 0], ("127.0.0.1", 5555), 0.0)  # behind it: queued too
    assert tuple(queued) == (2, 0)
    # knob moves: a gesture's first move (after a pause) is waited for, the rest of its stream is not (one
    # block later is not heard within a stream): CC 70 starts one, the bend 10 ms later continues it, CC 71
    # after a pause of 0.2 s starts another; /pc queued behind others is not (it is no gesture's first)
    server.midi_sink([0xB0, 70, 64], 1.0)
    server.midi_sink([0xE0, 0, 80], 1.01)
    assert tuple(queued) == (3, 0)
    server.midi_sink([0xB0, 71, 64], 1.21)
    assert tuple(queued) == (4, 0)
    server.midi_sink([0xB0, 71, 65], 1.22)
    server.osc_sink("/vaesynth/pc", [0, 1.0], ("127.0.0.1", 5555), 0.0)
    assert tuple(queued) == (4, 0) and server.queue.qsize() == 7
    server.midi_sink([0xB0, 64, 127], 1.23)  # the sustain pedal ends notes: waited for
    assert tuple(queued) == (5, 0)
    # what the server waits for over OSC is what the engine counts (TIMED_EVENTS): notes, sustain, panic
    # and a continuous control's first move after a pause (synth/gesture.py; the engine counts its event)
    from vaesynth.live.server import WAIT_FOR_OSC, WAIT_ON_ONSET_OSC

    assert WAIT_FOR_OSC == {"/vaesynth/" + a for a in ("note", "sustain", "panic")}
    assert WAIT_ON_ONSET_OSC == {"/vaesynth/" + a for a in ("pc", "z", "bend", "gain")}
    server.start()
    try:
        assert server.wait_idle(5.0)
        deadline = time.monotonic() + 5.0
        while queued[1] != queued[0] and time.monotonic() < deadline:
            time.sleep(0.005)
    finally:
        server.stop()
    assert tuple(queued) == (5, 5)
    assert [e[:2] for _, e in engine._inbox if e[0] in ("note_on", "note_off", "sustain")] == [
        ("note_on", 60),
        ("note_off", 60),
        ("sustain", True),
    ]
    assert Engine(48000).incoming_queued is None
