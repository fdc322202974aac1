"""`vaesynth serve` as a real process on JACK, played over OSC (python-osc, liblo's oscsend, Pure Data),
recorded by jack_capture on its real JACK ports and by its own --record; stopped with SIGTERM."""

from __future__ import annotations

import subprocess
import time

import numpy as np
import pytest
import soundfile as sf

from tests.live.conftest import jack_ports, poll, require
from vaesynth.datasets.pitch import cents_between, estimate_f0
from vaesynth.live import native_callback

RATE = 48000


def spectrum_db(x: np.ndarray) -> np.ndarray:
    """Log-magnitude spectrum of x (dB): the median over 4096-sample Hann frames, so that one frame hit by a
    dropout (JACK's dummy driver waking late on this VM) does not decide it."""
    n = 4096
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[:: n // 2]
    mag = np.median(np.abs(np.fft.rfft(frames * np.hanning(n), axis=1)), axis=0)
    return 20 * np.log10(mag + 1e-9)


def centroid_in_harmonics(x: np.ndarray, f0_hz: float) -> float:
    mag = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / RATE)
    return float((mag * freqs).sum() / mag.sum() / f0_hz)


def onset(x: np.ndarray, threshold: float) -> int:
    idx = np.flatnonzero(np.abs(x) > threshold)
    assert idx.size, "no sound in the recording"
    return int(idx[0])


def align(short: np.ndarray, long: np.ndarray) -> int:
    """Offset of `short` inside `long` maximising their cross-correlation (FFT)."""
    n = len(long) + len(short)
    size = 1 << (n - 1).bit_length()
    c = np.fft.irfft(np.fft.rfft(long, size) * np.conj(np.fft.rfft(short, size)), size)
    return int(np.argmax(c[: len(long) - len(short) + 1]))


@pytest.fixture(scope="module")
def played(tiny_model, jack_server, tmp_path_factory):
    """One server session: a note played over OSC with a PCA move in the middle, captured by jack_capture
    from the server's JACK port; the server is SIGTERMed afterwards. Returns what the tests need. Run again
    if the hypervisor stalled this VM during a run with xruns (tests/live/hostnoise.py)."""
    from tests.live.hostnoise import undisturbed

    require("jack_capture")
    require("oscsend")
    return undisturbed(
        lambda: _play(tiny_model, tmp_path_factory.mktemp("serve-osc")),
        "exit_info",
        jack_log=jack_server["log"],
    )


def _play(tiny_model, d):
    from tests.live.conftest import ServeProcess

    rec = d / "record.wav"
    name = "vstosc"
    server = ServeProcess(
        [
            "--model",
            str(tiny_model),
            "--midi-in",
            "none",
            "--record",
            str(rec),
            "--info-on-exit",
            str(d / "exit.json"),
        ],
        d / "serve.log",
        name,
    )
    try:
        c = server.client
        assert poll(lambda: f"{name}:out_0" in jack_ports(name), 10)
        cap_path = d / "capture.wav"
        cap = subprocess.Popen(
            [
                "jack_capture",
                "--daemon",
                "--channels",
                "1",
                "--port",
                f"{name}:out_0",
                "--recording-time",
                "3.5",
                str(cap_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.8)  # jack_capture connects and starts writing
        c.send("/vaesynth/pc", 0, -3.0)
        c.send("/vaesynth/note", 69, 100)
        time.sleep(0.8)
        c.send("/vaesynth/pc", 0, 3.0)
        time.sleep(0.8)
        c.send("/vaesynth/note", 69, 0)
        time.sleep(0.8)
        info = c.info()
        # liblo's oscsend: an outside OSC implementation, one message per process
        subprocess.run(
            ["oscsend", "localhost", str(server.port), "/vaesynth/pc", "if", "1", "1.25"],
            check=True,
            timeout=10,
        )

        def pc1_arrived():
            i = c.info()
            return i if abs(i["pcs"][1] - 1.25) < 1e-4 else None

        info_after_oscsend = poll(pc1_arrived, 5)
        cap.wait(timeout=20)
        rc = server.terminate()
        exit_info = __import__("json").loads((d / "exit.json").read_text())
    finally:
        server.kill()
    x_cap, rate_cap = sf.read(cap_path, dtype="float32")
    x_rec, rate_rec = sf.read(rec, dtype="float32")
    return dict(
        cap=x_cap.reshape(len(x_cap), -1)[:, 0],
        rate_cap=rate_cap,
        rec=x_rec,
        rate_rec=rate_rec,
        info=info,
        info_oscsend=info_after_oscsend,
        rc=rc,
        exit_info=exit_info,
        log=server.output(),
    )


def test_serve_plays_osc_notes_in_tune_on_its_jack_port(played):
    x = played["cap"]
    assert played["rate_cap"] == RATE
    assert np.all(np.isfinite(x)) and np.abs(x).max() <= 1.0
    start = onset(x, 1e-3 * np.abs(x).max())
    for a_s, b_s in ((0.15, 0.75), (0.95, 1.55)):  # before and after the PCA move
        seg = x[start + int(a_s * RATE) : start + int(b_s * RATE)]
        f, _ = estimate_f0(seg, RATE, 256)
        voiced = f[np.isfinite(f)]
        assert voiced.size > 0.9 * f.size
        assert abs(cents_between(np.median(voiced), 440.0)) < 5.0


def test_serve_pca_move_changes_the_timbre(played):
    x = played["cap"]
    start = onset(x, 1e-3 * np.abs(x).max())
    a = x[start + int(0.15 * RATE) : start + int(0.75 * RATE)]
    b = x[start + int(0.95 * RATE) : start + int(1.55 * RATE)]
    lsd_db = np.sqrt(np.mean((spectrum_db(a)[:2000] - spectrum_db(b)[:2000]) ** 2))
    # the same note's spectrum with pc 0 at -3 vs +3 std: clearly different (same segment twice: < 1 dB)
    same_db = np.sqrt(
        np.mean((spectrum_db(a[: len(a) // 2])[:2000] - spectrum_db(a[len(a) // 2 :])[:2000]) ** 2)
    )
    assert lsd_db > 3.0 and same_db < 1.5, (lsd_db, same_db)
    assert abs(centroid_in_harmonics(a, 440.0) - centroid_in_harmonics(b, 440.0)) > 0.2


def test_serve_is_silent_after_note_off_and_release(played):
    x = played["cap"]
    start = onset(x, 1e-3 * np.abs(x).max())
    note = x[start + int(0.2 * RATE) : start + int(1.5 * RATE)]
    off = start + int(1.6 * RATE)
    tail = x[off + int(0.35 * RATE) : off + int(0.7 * RATE)]  # release is 200 ms
    assert len(tail) > 0.3 * RATE
    assert np.sqrt(np.mean(tail**2)) < 1e-4 * np.sqrt(np.mean(note**2)) + 1e-7


def test_serve_info_reports_the_model_and_no_xruns(played, tiny_model):
    info = played["info"]
    assert info["model"] == str(tiny_model)
    assert info["latent_dim"] == 4 and info["sample_rate"] == RATE and info["engine"] == "oscbank"
    assert info["osc_port"] > 0 and info["midi_in"] is None
    assert info["received"]["osc applied"] >= 4
    assert info["pcs"][0] == pytest.approx(3.0, abs=1e-4)
    assert played["exit_info"]["xruns"] == 0, (
        played["attempts"],
        played["steal_ticks"],
        played["driver_late"],
        played["log"],
    )
    if native_callback.available():
        assert played["exit_info"]["audio_callback"] == "native"
    # serve rewinds by default (four blocks queued, its default lead): the notes and PCA moves were brought
    # forward into them
    assert played["exit_info"]["rewinds"] >= 3, played["exit_info"]
    # the native callback waits for messages on their way (counted; the Python one never waits)
    waits = played["exit_info"]["event_waits"]
    assert 0 <= waits["ran_out"] <= waits["waited"], waits
    assert "rewound on events" in played["log"]


def test_serve_accepts_liblo_oscsend(played):
    assert played["info_oscsend"] is not None, "oscsend's /pc 1 1.25 did not arrive"
    assert played["info_oscsend"]["pcs"][0] == pytest.approx(3.0, abs=1e-4)


def test_serve_record_equals_what_jack_capture_recorded(played):
    cap, rec, exit_info = played["cap"], played["rec"], played["exit_info"]
    assert played["rate_rec"] == RATE
    # every block the callback played is in the file, none lost to a writer that fell behind
    assert exit_info["record_overflows"] == 0, exit_info
    assert len(rec) == exit_info["frames_played"], (len(rec), exit_info)
    start = onset(cap, 1e-3 * np.abs(cap).max())
    clip = cap[start : start + RATE * 2]
    off = align(clip, rec)
    sounding = np.flatnonzero(np.abs(rec) > 1e-3 * np.abs(cap).max())
    span = f"{sounding[0]}-{sounding[-1]}" if sounding.size else "nowhere"
    where = (
        f"capture: {len(cap)} samples, note from {start}; record: {len(rec)} samples, peak "
        f"{np.abs(rec).max():.3g}, sound at {span}, aligned at {off}"
    )
    np.testing.assert_allclose(rec[off : off + len(clip)], clip, atol=1e-6, err_msg=where)


def test_serve_sigterm_stops_cleanly_with_a_valid_recording(played):
    assert played["rc"] == 0, played["log"]
    assert "stopped:" in played["log"] and "finalised" in played["log"]
    rec = played["rec"]
    # the file holds every sample the callback played (soundfile read it: a valid, finalised WAV)
    assert len(rec) == played["exit_info"]["frames_played"]
    assert np.all(np.isfinite(rec)) and np.abs(rec).max() <= 1.0
