"""STFT/ISTFT, MDCT, CQT: against scipy/librosa references and round-trip properties with tolerances."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import stft as scipy_stft

from vaesynth.synth.config import SpectralConfig
from vaesynth.synth.spectral import (
    cqt,
    from_magphase,
    icqt,
    imdct,
    istft,
    magnitude,
    magphase,
    mdct,
    mdct_n_frames,
    mdct_window,
    n_frames_for,
    stft,
)

SR = 22050


def tone(n_samples: int, sample_rate: int = SR, f0_hz: float = 196.0, n_partials: int = 11,
         envelope: bool = True) -> np.ndarray:
    """Harmonic tone (partials 0.5**k), by default under a Hann envelope (silent at both ends)."""
    t = np.arange(n_samples) / sample_rate
    x = sum(0.5 ** k * np.sin(2 * np.pi * k * f0_hz * t + k) for k in range(1, n_partials + 1))
    return x * np.hanning(n_samples) if envelope else x


@pytest.mark.parametrize("n_fft,hop", [(512, 128), (1024, 256), (2048, 512), (256, 100)])
def test_stft_matches_scipy(n_fft, hop):
    x = np.random.default_rng(0).standard_normal(5000)
    cfg = SpectralConfig(sample_rate=SR, n_fft=n_fft, hop_length=hop)
    ours = stft(x, cfg)
    # scipy: centred frames (boundary='zeros'), periodic hann; its 'spectrum' scaling divides by sum(window).
    _, _, ref = scipy_stft(x, nperseg=n_fft, noverlap=n_fft - hop, window="hann", boundary="zeros",
                           padded=True, detrend=False, return_onesided=True, scaling="spectrum")
    ref = ref.T * np.sum(np.hanning(n_fft + 1)[:-1])
    n = n_frames_for(len(x), cfg)
    assert ours.shape == (n, n_fft // 2 + 1)
    np.testing.assert_allclose(ours, ref[:n], atol=2e-4 * np.abs(ref).max())
    np.testing.assert_allclose(magnitude(x, cfg), np.abs(ref[:n]), atol=2e-4 * np.abs(ref).max())


def test_stft_matches_librosa():
    librosa = pytest.importorskip("librosa")
    x = np.random.default_rng(1).standard_normal(6000).astype(np.float32)
    cfg = SpectralConfig(sample_rate=SR, n_fft=1024, hop_length=256)
    ref = librosa.stft(x, n_fft=1024, hop_length=256, window="hann", center=True, pad_mode="constant").T
    np.testing.assert_allclose(stft(x, cfg), ref, atol=1e-3)


@pytest.mark.parametrize("n_fft,hop", [(512, 128), (512, 256), (2048, 512), (2048, 1024)])
def test_istft_roundtrip(n_fft, hop):
    x = np.random.default_rng(2).standard_normal(7000)
    cfg = SpectralConfig(sample_rate=SR, n_fft=n_fft, hop_length=hop)
    y = istft(stft(x, cfg), cfg, n_samples=len(x))
    # complex64 spectra: float32 precision
    np.testing.assert_allclose(y, x, atol=1e-5)


def test_magphase_roundtrip():
    cfg = SpectralConfig(sample_rate=SR, n_fft=512, hop_length=128)
    x = np.random.default_rng(3).standard_normal(3000)
    spec = stft(x, cfg)
    mag, phase = magphase(spec)
    assert np.all(np.abs(phase) <= np.pi + 1e-6)
    np.testing.assert_allclose(mag, np.abs(spec), rtol=1e-6)
    np.testing.assert_allclose(from_magphase(mag, phase), spec, atol=1e-5 * np.abs(spec).max())
    np.testing.assert_allclose(istft(from_magphase(mag, phase), cfg, len(x)), x, atol=1e-5)


@pytest.mark.parametrize("frame_length", [16, 256, 2048])
@pytest.mark.parametrize("window", ["sine", "kbd"])
def test_mdct_perfect_reconstruction(frame_length, window):
    w = mdct_window(frame_length, window)
    m = frame_length // 2
    np.testing.assert_allclose(w[:m] ** 2 + w[m:] ** 2, 1.0, atol=1e-12)  # Princen-Bradley
    x = np.random.default_rng(4).standard_normal(5 * frame_length + 7)
    coeffs = mdct(x, frame_length, window)
    assert coeffs.shape == (mdct_n_frames(len(x), frame_length), m)
    np.testing.assert_allclose(imdct(coeffs, frame_length, len(x), window), x, atol=1e-5)
    # Orthonormal lapped transform: energy is preserved (Parseval), up to float32 storage.
    assert np.sum(coeffs.astype(np.float64) ** 2) == pytest.approx(np.sum(x ** 2), rel=1e-5)


def test_mdct_matches_direct_formula():
    frame_length, m = 32, 16
    x = np.random.default_rng(5).standard_normal(100)
    coeffs = mdct(x, frame_length)
    xp = np.zeros(m + len(x) + 2 * m)
    xp[m:m + len(x)] = x
    n, k = np.arange(frame_length), np.arange(m)
    basis = np.sqrt(2 / m) * np.cos(np.pi / m * np.outer(k + 0.5, n + 0.5 + m / 2))
    for t in range(coeffs.shape[0]):
        ref = basis @ (xp[t * m:t * m + frame_length] * mdct_window(frame_length))
        np.testing.assert_allclose(coeffs[t], ref, atol=1e-5)


@pytest.mark.parametrize("hop,fmin_hz,n_bins,bpo",
                         [(512, 32.70, 84, 12), (256, 55.0, 72, 24), (500, 65.4, 48, 12)])
def test_cqt_matches_librosa(hop, fmin_hz, n_bins, bpo):
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(6)
    x = (tone(SR, envelope=False) + 0.05 * rng.standard_normal(SR)).astype(np.float32)
    ours = np.abs(cqt(x, SR, hop, fmin_hz, n_bins, bpo))
    ref = np.abs(librosa.cqt(x, sr=SR, hop_length=hop, fmin=fmin_hz, n_bins=n_bins, bins_per_octave=bpo).T)
    assert ours.shape == ref.shape
    # librosa approximates this exact filter bank: it drops the smallest 1% (L1) of each filter's FFT
    # coefficients (sparsity=0.01) and resamples by 2 per octave (soxr_hq). Measured: relative Frobenius
    # error 0.5-0.8%, every bin within 2.1% of its frame's peak (the worst at the zero-padded edges).
    assert np.linalg.norm(ours - ref) / np.linalg.norm(ref) < 0.015
    assert np.max(np.abs(ours - ref) / ref.max(axis=1, keepdims=True)) < 0.03


def test_cqt_matches_direct_sum_across_blocks():
    # C[t, k] = sqrt(L_k) * sum_j conj(h_k[j]) x[t*hop + j] by brute force, on a signal long enough for
    # several overlap-save blocks, zero padding at both ends. Like librosa, the bank keeps only the
    # non-negative-frequency half of each filter's spectrum, so the exact reference runs on x's
    # non-negative-frequency part; on x itself the difference is the Hann leakage at -f_k (< 3e-4 here).
    from vaesynth.synth.spectral import _cqt_block_grid, cqt_frequencies, cqt_lengths

    sr, hop, fmin_hz, n_bins, bpo = 8000, 64, 55.0, 48, 12
    x = np.random.default_rng(7).standard_normal(2 * sr)
    ours = cqt(x, sr, hop, fmin_hz, n_bins, bpo)
    lengths = cqt_lengths(sr, fmin_hz, n_bins, bpo)
    assert _cqt_block_grid(hop, lengths.max())[2] < ours.shape[0] // 2  # >= 3 blocks
    pad = int(lengths.max())
    xp = np.pad(x, pad)
    spec = np.fft.fft(xp)
    spec[len(xp) // 2 + 1:] = 0.0
    x_pos = np.fft.ifft(spec)
    frames = np.arange(ours.shape[0])
    for k in (0, 17, 47):
        length, f_hz = lengths[k], cqt_frequencies(fmin_hz, n_bins, bpo)[k]
        j = np.arange(-length // 2, length // 2)
        w = np.hanning(len(j) + 1)[:-1]  # periodic Hann
        h = w * np.exp(2j * np.pi * f_hz * j / sr) / w.sum()
        idx = pad + frames[:, None] * hop + j.astype(int)[None, :]
        ref = np.sqrt(length) * (x_pos[idx] @ np.conj(h))
        np.testing.assert_allclose(ours[:, k], ref, atol=1e-4 * np.abs(ref).max())
        full = np.sqrt(length) * (xp[idx] @ np.conj(h))
        np.testing.assert_allclose(ours[:, k], full, atol=3e-4 * np.abs(full).max())


def test_cqt_sine_peaks_at_its_bin():
    f_hz = 440.0
    x = np.sin(2 * np.pi * f_hz * np.arange(SR) / SR)
    mag = np.abs(cqt(x, SR, 256, 55.0, 60, 12))
    mid = mag[mag.shape[0] // 2]
    assert np.argmax(mid) == 36  # 55 Hz * 2**(36/12) = 440 Hz
    # sqrt(L)-scaled, L1-normalised wavelet: a unit sine reads sqrt(L_k)/2 at its own bin.
    from vaesynth.synth.spectral import cqt_lengths
    assert mid[36] == pytest.approx(np.sqrt(cqt_lengths(SR, 55.0, 60, 12)[36]) / 2, rel=1e-3)


@pytest.mark.parametrize("hop,bpo,min_snr_db", [(512, 12, 10.0), (512, 24, 23.0), (64, 12, 50.0)])
def test_icqt_approximate_inverse(hop, bpo, min_snr_db):
    # A band-limited tone inside the bank's range. Decimating each bin by hop aliases the wide top bins,
    # so the inverse is approximate: measured SNR 11.9 dB (hop 512, 12 bpo), 25.7 dB (512, 24 bpo),
    # 58 dB (hop 64) — on a par with librosa.icqt (12.2, 25.6, 45 dB on the same signal).
    x = tone(SR)
    fmin_hz, n_bins = 32.70, 7 * bpo
    y = icqt(cqt(x, SR, hop, fmin_hz, n_bins, bpo), SR, hop, fmin_hz, bpo, n_samples=len(x))
    snr_db = 10 * np.log10(np.sum(x ** 2) / np.sum((x - y) ** 2))
    assert snr_db > min_snr_db


@pytest.mark.parametrize("n", [1, 2, 7, 256, 1024, 2049])
def test_hann_window_matches_scipy_periodic_hann(n):
    """The Hann window computed without scipy (start-up) is scipy's periodic one."""
    from scipy.signal import get_window

    from vaesynth.synth.spectral import window

    np.testing.assert_allclose(window("hann", n), get_window("hann", n, fftbins=True), rtol=0, atol=1e-15)
