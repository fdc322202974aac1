"""`vaesynth resynth` end to end: a tiny model trained on harmonic tones replays a recording with its
pitch, its silences and its brightness."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from tests.training.synthetic import tiny_config, write_npz
from vaesynth import cli
from vaesynth.datasets.pitch import cents_between, estimate_f0

RATE_IN = 16000
# (start s, stop s, f0 Hz, n_harmonics): dull 220 Hz, silence, bright 330 Hz
SEGMENTS = [(0.0, 0.6, 220.0, 2), (0.9, 1.5, 330.0, 12)]
DURATION_S = 1.8


def tone(f0_hz, n_harmonics, n_samples, rate):
    t = np.arange(n_samples) / rate
    k = np.arange(1, n_harmonics + 1)[:, None]
    amps = 1.0 / k
    return (0.1 * (amps * np.sin(2 * np.pi * k * f0_hz * t)).sum(axis=0)).astype(np.float32)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from vaesynth.training.trainer import train

    d = tmp_path_factory.mktemp("resynth")
    data = write_npz(d, n_sounds=48)
    return train(tiny_config(data, d / "tiny.pt", epochs=25))


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    x = np.zeros(int(DURATION_S * RATE_IN), np.float32)
    for start, stop, f0, n_h in SEGMENTS:
        a, b = int(start * RATE_IN), int(stop * RATE_IN)
        x[a:b] = tone(f0, n_h, b - a, RATE_IN) * np.hanning(b - a).clip(0, 0.05) / 0.05  # 30 ms fades
    path = tmp_path_factory.mktemp("rec") / "in.wav"
    sf.write(path, x, RATE_IN)
    return path


def spectral_centroid_hz(x, rate):
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    return float((spec * freqs).sum() / spec.sum())


@pytest.mark.parametrize("engine", ["oscbank", "istft"])
def test_resynth_follows_pitch_silence_and_brightness_of_the_recording(model, recording, tmp_path, engine):
    out = tmp_path / "out.wav"
    assert cli.main(["resynth", "--model", str(model), str(recording), str(out), "--engine", engine]) == 0
    y, rate = sf.read(out, dtype="float32")
    assert rate == 48000  # the recording's 16 kHz is below the engine's range: the default rate
    assert np.all(np.isfinite(y)) and np.abs(y).max() <= 1.0
    assert len(y) >= int(SEGMENTS[-1][1] * rate)

    centroids = []
    for start, stop, f0, _ in SEGMENTS:
        seg = y[int((start + 0.15) * rate) : int((stop - 0.15) * rate)]
        f, _conf = estimate_f0(seg, rate, 256)
        voiced = f[np.isfinite(f)]
        assert voiced.size > 0.8 * f.size
        assert abs(cents_between(np.median(voiced), f0)) < 10.0  # the played pitch is the recording's
        centroids.append(spectral_centroid_hz(seg, rate) / f0)
    # brightness in harmonics of f0: 12 harmonics at 1/k read brighter than 2
    assert centroids[1] > 1.5 * centroids[0]
    # the silence between the segments stays silent once the release has ended
    gap = y[int(0.75 * rate) : int(0.85 * rate)]
    loud = y[int(0.2 * rate) : int(0.4 * rate)]
    assert np.sqrt(np.mean(gap**2)) < 1e-3 * np.sqrt(np.mean(loud**2))


def test_resynth_user_errors_are_one_line(model, tmp_path, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....not audio")
    assert cli.main(["resynth", "--model", str(model), str(bad), str(tmp_path / "o.wav")]) != 0
    assert (
        cli.main(["resynth", "--model", str(model), str(tmp_path / "missing.wav"), str(tmp_path / "o.wav")])
        != 0
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("error:" in line for line in err)
