"""Spectral representations and their inverses. Pure functions of arrays and a SpectralConfig.

Frames are centred: frame t covers samples [t*hop - n_fft/2, t*hop + n_fft/2), the signal zero-padded at
both ends, so `istft(stft(x))` reconstructs x exactly (hann window, hop <= n_fft/2, COLA-normalised).

- STFT: `stft`, `istft` (exact), `magnitude`; `magphase` / `from_magphase` split and join complex frames.
- MDCT: `mdct`, `imdct` (TDAC with a sine or KBD Princen-Bradley window: perfect reconstruction).
- CQT: `cqt` (librosa.cqt's filter bank computed exactly at full rate), `icqt` (approximate inverse).
The frame-level transforms a model trains on, and the normaliser, are in `representations.py`.
"""

from __future__ import annotations

import functools

import numpy as np

from vaesynth.synth.config import SpectralConfig


def window(name: str, n: int) -> np.ndarray:
    """Periodic window `name` (a scipy.signal.get_window name) of n samples, float64.

    The periodic Hann window (every engine's default) is computed here; scipy.signal, imported only for the
    others, costs about a second at `serve` start-up."""
    if name in ("hann", "hanning") and n > 1:
        return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)
    from scipy.signal import get_window

    return get_window(name, n, fftbins=True).astype(np.float64)


def analysis_window(config: SpectralConfig) -> np.ndarray:
    """Periodic analysis window [n_fft], float64."""
    return window(config.window, config.n_fft)


def n_frames_for(n_samples: int, config: SpectralConfig) -> int:
    """Number of centred frames `stft` returns for a signal of n_samples."""
    return 1 + n_samples // config.hop_length


def stft(x: np.ndarray, config: SpectralConfig) -> np.ndarray:
    """Complex STFT of a mono signal.

    x: [n_samples] float. Returns complex64 [n_frames, n_bins], n_frames = 1 + n_samples // hop_length.
    Real-time safe: no (allocates).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"stft expects a mono signal [n_samples], got shape {x.shape}")
    n_fft, hop = config.n_fft, config.hop_length
    pad = n_fft // 2
    xp = np.pad(x, (pad, pad + n_fft))
    n_frames = n_frames_for(len(x), config)
    frames = np.lib.stride_tricks.sliding_window_view(xp, n_fft)[::hop][:n_frames]
    return np.fft.rfft(frames * analysis_window(config), axis=-1).astype(np.complex64)


def istft(spec: np.ndarray, config: SpectralConfig, n_samples: int | None = None) -> np.ndarray:
    """Inverse of `stft` by weighted overlap-add (least-squares ISTFT).

    spec: complex [n_frames, n_bins]. Returns float64 [n_samples] (default (n_frames - 1) * hop_length).
    Real-time safe: no (allocates).
    """
    spec = np.asarray(spec)
    n_fft, hop = config.n_fft, config.hop_length
    n_frames = spec.shape[0]
    win = analysis_window(config)
    frames = np.fft.irfft(spec, n=n_fft, axis=-1) * win
    total = (n_frames - 1) * hop + n_fft
    out = np.zeros(total)
    norm = np.zeros(total)
    for t in range(n_frames):
        out[t * hop:t * hop + n_fft] += frames[t]
        norm[t * hop:t * hop + n_fft] += win * win
    pad = n_fft // 2
    out = out[pad:]
    norm = norm[pad:]
    if n_samples is None:
        n_samples = (n_frames - 1) * hop
    out = out[:n_samples]
    norm = norm[:n_samples]
    return out / np.maximum(norm, 1e-8)


def magnitude(x: np.ndarray, config: SpectralConfig) -> np.ndarray:
    """Linear STFT magnitude frames, float32 [n_frames, n_bins]."""
    return np.abs(stft(x, config)).astype(np.float32)


# ----------------------------------------------------------------------------------------------------------
# Magnitude + phase


def magphase(spec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a complex spectrum into (magnitude float32, phase float32 in radians, -pi..pi), same shape."""
    spec = np.asarray(spec)
    return np.abs(spec).astype(np.float32), np.angle(spec).astype(np.float32)


def from_magphase(mag: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Complex spectrum mag * exp(i * phase), complex64, shapes broadcast."""
    return (np.asarray(mag, dtype=np.float64) * np.exp(1j * np.asarray(phase, dtype=np.float64))).astype(
        np.complex64)


# ----------------------------------------------------------------------------------------------------------
# MDCT (TDAC): frame_length = 2M samples per frame, hop M, M coefficients per frame.


def mdct_window(frame_length: int, window: str = "sine") -> np.ndarray:
    """Princen-Bradley window [frame_length]: w[n]^2 + w[n + M]^2 = 1 and w symmetric.

    window: "sine" (w[n] = sin(pi (n + 1/2) / 2M)) or "kbd" (Kaiser-Bessel-derived, alpha = 4).
    """
    if frame_length < 4 or frame_length % 4:
        raise ValueError(f"MDCT frame_length must be a multiple of 4, got {frame_length}")
    if window == "sine":
        return np.sin(np.pi * (np.arange(frame_length) + 0.5) / frame_length)
    if window == "kbd":
        from scipy.signal.windows import kaiser_bessel_derived

        return kaiser_bessel_derived(frame_length, beta=4.0 * np.pi)
    raise ValueError(f"unknown MDCT window {window!r}: use 'sine' or 'kbd'")


def mdct_n_frames(n_samples: int, frame_length: int) -> int:
    """Frames `mdct` returns: frame t is centred on sample t * M (M = frame_length // 2), and every sample
    of [0, n_samples) lies in two frames, so n_frames = 1 + ceil(n_samples / M)."""
    hop = frame_length // 2
    return 1 + -(-n_samples // hop)


def mdct(x: np.ndarray, frame_length: int, window: str = "sine") -> np.ndarray:
    """MDCT of a mono signal, orthonormal scaling (TDAC with a Princen-Bradley window).

    x: [n_samples] float. frame_length: 2M samples (multiple of 4); hop M. Frame t covers samples
    [t*M - M, t*M + M) (centred on t*M, zero-padded), so `imdct` reconstructs x exactly.
    X[t, k] = sqrt(2/M) sum_n w[n] x_t[n] cos(pi/M (n + 1/2 + M/2)(k + 1/2)).
    Returns float32 [mdct_n_frames(n_samples, frame_length), M].
    Real-time safe: no (allocates).
    """
    from scipy.fft import dct

    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"mdct expects a mono signal [n_samples], got shape {x.shape}")
    win = mdct_window(frame_length, window)
    m = frame_length // 2
    n_frames = mdct_n_frames(len(x), frame_length)
    xp = np.zeros((n_frames + 1) * m)
    xp[m:m + len(x)] = x
    frames = np.lib.stride_tricks.sliding_window_view(xp, frame_length)[::m][:n_frames] * win
    # Fold the 2M windowed samples (a, b, c, d quarters) into M: MDCT = DCT-IV(-c_r - d, a - b_r).
    h = m // 2
    a, b, c, d = frames[:, :h], frames[:, h:m], frames[:, m:m + h], frames[:, m + h:]
    folded = np.concatenate([-c[:, ::-1] - d, a - b[:, ::-1]], axis=-1)
    return dct(folded, type=4, norm="ortho", axis=-1).astype(np.float32)


def imdct(coeffs: np.ndarray, frame_length: int, n_samples: int | None = None,
          window: str = "sine") -> np.ndarray:
    """Inverse of `mdct`: windowed overlap-add; time-domain aliasing cancels between neighbours.

    coeffs: [n_frames, M]. n_samples: output length (default (n_frames - 1) * M, the longest signal those
    frames cover). Returns float64 [n_samples]. Real-time safe: no (allocates).
    """
    from scipy.fft import dct

    coeffs = np.asarray(coeffs, dtype=np.float64)
    m = frame_length // 2
    if coeffs.ndim != 2 or coeffs.shape[1] != m:
        raise ValueError(f"imdct expects [n_frames, {m}], got {coeffs.shape}")
    win = mdct_window(frame_length, window)
    n_frames = coeffs.shape[0]
    u = dct(coeffs, type=4, norm="ortho", axis=-1)  # DCT-IV is its own inverse (orthonormal)
    h = m // 2
    u1, u2 = u[:, :h], u[:, h:]
    # Unfold: the transpose of the folding in `mdct`.
    frames = np.concatenate([u2, -u2[:, ::-1], -u1[:, ::-1], -u1], axis=-1) * win
    out = np.zeros((n_frames + 1) * m)
    for t in range(n_frames):
        out[t * m:t * m + frame_length] += frames[t]
    if n_samples is None:
        n_samples = (n_frames - 1) * m
    return out[m:m + n_samples]


# ----------------------------------------------------------------------------------------------------------
# Constant-Q transform: librosa's Hann wavelet filter bank, computed at full rate without early
# downsampling or sparsification (librosa's fast path approximates exactly this transform).

HANN_BANDWIDTH_BINS = 1.50018310546875  # equivalent noise bandwidth of a Hann window, in FFT bins (librosa's)


def cqt_frequencies(fmin_hz: float, n_bins: int, bins_per_octave: int) -> np.ndarray:
    """Centre frequencies in Hz [n_bins]: fmin_hz * 2 ** (k / bins_per_octave)."""
    return fmin_hz * 2.0 ** (np.arange(n_bins) / bins_per_octave)


def cqt_lengths(sample_rate: float, fmin_hz: float, n_bins: int, bins_per_octave: int,
                filter_scale: float = 1.0) -> np.ndarray:
    """Filter lengths in samples [n_bins] (float): Q * sample_rate / f_k, Q = filter_scale / alpha,
    alpha = (r^2 - 1) / (r^2 + 1), r = 2 ** (1 / bins_per_octave) (librosa's relative bandwidth)."""
    r2 = 2.0 ** (2.0 / bins_per_octave)
    alpha = (r2 - 1.0) / (r2 + 1.0)
    return (filter_scale / alpha) * sample_rate / cqt_frequencies(fmin_hz, n_bins, bins_per_octave)


# A wavelet's spectrum is kept where the Hann window's response can exceed ~1e-6 of its peak: 64 bins of
# the window's own DFT either side of f_k (Hann sidelobes fall as 1/d^3). librosa keeps less (it drops
# the smallest 1% of each filter's L1 mass), so this truncation is far below the reference's own error.
_CQT_SUPPORT_BINS = 64


def _dirichlet(phi: np.ndarray, n: int) -> np.ndarray:
    """sum_{m=0}^{n-1} exp(-i phi m), stable at phi = 0 (mod 2 pi)."""
    half = 0.5 * phi
    s = np.sin(half)
    small = np.abs(s) < 1e-12
    ratio = np.where(small, n * np.cos(n * half) / np.where(small, np.cos(half), 1.0),
                     np.sin(n * half) / np.where(small, 1.0, s))
    return np.exp(-1j * half * (n - 1)) * ratio


@functools.lru_cache(maxsize=16)
def _cqt_filter_spectra(sample_rate: float, fmin_hz: float, n_bins: int, bins_per_octave: int,
                        filter_scale: float, n_fft: int) -> tuple[tuple, np.ndarray]:
    """Per bin (lo, values): the L1-normalised Hann wavelet's DFT on positive bins [lo, lo + len(values)),
    sampled analytically (a periodic Hann is three Dirichlet kernels); and the lengths [n_bins].

    The wavelet is h[j] = w[j - j0] exp(i 2 pi f_k j / sr) / sum(w), j = j0 .. j0 + n - 1 on
    librosa.filters.wavelet's grid (j0 = floor(-L/2), n = len(arange(-L // 2, L // 2))), circularly
    placed so lag 0 is the filter's centre. Cached: Griffin-Lim calls it with the same sizes each pass.
    """
    freqs = cqt_frequencies(fmin_hz, n_bins, bins_per_octave)
    lengths = cqt_lengths(sample_rate, fmin_hz, n_bins, bins_per_octave, filter_scale)
    r2 = 2.0 ** (2.0 / bins_per_octave)
    q = filter_scale * (r2 + 1.0) / (r2 - 1.0)
    if np.max(freqs * (1.0 + 0.5 * HANN_BANDWIDTH_BINS / q)) > sample_rate / 2:
        raise ValueError("CQT top filter would exceed the Nyquist frequency: reduce n_bins or fmin_hz")
    n_pos = n_fft // 2 + 1
    out = []
    for length, f_hz in zip(lengths, freqs, strict=True):
        j = np.arange(-length // 2, length // 2)
        j0, n = int(j[0]), len(j)
        if n > n_fft:
            raise ValueError("CQT filter longer than its FFT grid")
        centre = f_hz / sample_rate * n_fft  # in FFT bins
        half_width = _CQT_SUPPORT_BINS * n_fft / n
        lo = max(0, int(np.floor(centre - half_width)))
        hi = min(n_pos, int(np.ceil(centre + half_width)) + 1)
        if hi - lo > n_pos // 8:
            # Short filter, wide support: one FFT of the circularly placed filter beats evaluating the
            # closed form (a dozen transcendentals per bin) over most of the spectrum. Same samples.
            w = window("hann", n)
            buf = np.zeros(n_fft, dtype=np.complex128)
            buf[j.astype(np.int64) % n_fft] = w * np.exp(2j * np.pi * f_hz * j / sample_rate) / np.sum(w)
            values = np.fft.fft(buf)[lo:hi]
        else:
            theta = 2.0 * np.pi * np.arange(lo, hi) / n_fft
            phi = theta - 2.0 * np.pi * f_hz / sample_rate
            step = 2.0 * np.pi / n
            win_dtft = (0.5 * _dirichlet(phi, n) - 0.25 * _dirichlet(phi - step, n)
                        - 0.25 * _dirichlet(phi + step, n))
            # periodic Hann of length n sums to n / 2
            values = np.exp(-1j * phi * j0) * win_dtft / (0.5 * n)
        values.setflags(write=False)
        out.append((lo, values))
    lengths.setflags(write=False)
    return tuple(out), lengths


def _ladder(n: int) -> int:
    """Smallest 2^k or 3 * 2^k >= n: few distinct sizes (so cached filter spectra get reused), at most a
    third larger than needed, and FFT-friendly."""
    p = 1 << max(0, int(np.ceil(np.log2(n))))
    return 3 * p // 4 if p >= 4 and 3 * p // 4 >= n else p


def _cqt_grid(n_samples: int, hop_length: int, max_length: float) -> tuple[int, int]:
    """(n_fft, n_frames): an FFT size that is a multiple of hop_length and holds the signal plus a whole
    longest filter of zeros, so the circular correlation equals the linear one at every frame. A `_ladder`
    size of frames, so that the (cached) filter spectra serve every signal up to that length."""
    n_frames = 1 + n_samples // hop_length
    need = n_samples + int(np.ceil(max_length)) + 2
    m = _ladder(-(-need // hop_length))
    return m * hop_length, n_frames


def _cqt_block_grid(hop_length: int, max_length: float, n_frames: int | None = None) -> tuple[int, int, int]:
    """Overlap-save blocks for `cqt`: (n_fft, lead, n_out). A block's FFT covers n_fft samples starting
    lead * hop before its first frame; its first n_out frames see their whole filters inside the block.
    n_fft is a multiple of hop: ~4 longest filters, or for a signal of n_frames that fits in less, the
    `_ladder` size of frames that holds it. So n_fft takes few values per setting and the filter spectra
    (cached) are computed a few times per setting, not once per signal length."""
    from scipy.fft import next_fast_len

    reach = int(np.ceil(max_length / 2.0)) + 2  # samples a filter reaches either side of its frame
    lead = -(-reach // hop_length)
    m = next_fast_len(max(4 * (2 * lead + 1), 64))
    if n_frames is not None:
        m = min(m, _ladder(n_frames + 2 * lead + 1))
    return m * hop_length, lead, m - 2 * lead - 1


def cqt(x: np.ndarray, sample_rate: float, hop_length: int, fmin_hz: float, n_bins: int,
        bins_per_octave: int, filter_scale: float = 1.0) -> np.ndarray:
    """Constant-Q transform with librosa.cqt's definition (Hann wavelets, L1 norm, scale=True).

    C[t, k] = sqrt(L_k) * sum_j h_k[j]^* x[t*hop + j], h_k the L1-normalised Hann-windowed complex
    exponential at f_k of length L_k (`cqt_lengths`), frames centred on t * hop_length, zero padding.
    Magnitudes match librosa.cqt(x, sr, hop_length, fmin, n_bins, bins_per_octave) up to librosa's
    approximations (resampling per octave, 1% filter sparsity); see tests for the tolerance.
    x: [n_samples]. Returns complex64 [1 + n_samples // hop_length, n_bins].
    Computed exactly, by overlap-save blocks: per block one FFT, per bin a product with the filter's
    spectrum, then decimation by hop_length done by folding that product (decimation in time is
    aliasing in frequency: exact because n_fft is a multiple of hop_length) and a short inverse FFT.
    Real-time safe: no (allocates).
    """
    from scipy.fft import ifft, rfft

    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"cqt expects a mono signal [n_samples], got shape {x.shape}")
    lengths = cqt_lengths(sample_rate, fmin_hz, n_bins, bins_per_octave, filter_scale)
    n_frames = 1 + len(x) // hop_length
    n_fft, lead, n_out = _cqt_block_grid(hop_length, lengths.max(), n_frames)
    spectra, lengths = _cqt_filter_spectra(sample_rate, fmin_hz, n_bins, bins_per_octave, filter_scale, n_fft)
    scale = np.sqrt(lengths)
    m = n_fft // hop_length
    n_blocks = -(-n_frames // n_out)
    pad_left = lead * hop_length
    xp = np.zeros(pad_left + n_blocks * n_out * hop_length + n_fft)
    xp[pad_left:pad_left + len(x)] = x
    folds = [np.arange(lo, lo + len(values)) % m for lo, values in spectra]
    out = np.empty((n_blocks * n_out, n_bins), dtype=np.complex64)
    for blk in range(n_blocks):
        t0 = blk * n_out
        spec_x = rfft(xp[t0 * hop_length:t0 * hop_length + n_fft])
        for k, (lo, values) in enumerate(spectra):
            prod = spec_x[lo:lo + len(values)] * np.conj(values)
            # c[q*hop] = (1/hop) IDFT_m( sum_r C[f + r*m] )[q]; frame t0 + i sits at q = lead + i.
            folded = np.bincount(folds[k], prod.real, m) + 1j * np.bincount(folds[k], prod.imag, m)
            c = ifft(folded)[lead:lead + n_out] / hop_length
            out[t0:t0 + n_out, k] = scale[k] * c
    return out[:n_frames]


def icqt(coeffs: np.ndarray, sample_rate: float, hop_length: int, fmin_hz: float, bins_per_octave: int,
         n_samples: int | None = None, filter_scale: float = 1.0) -> np.ndarray:
    """Approximate inverse of `cqt` (complex coefficients -> signal).

    The adjoint of the analysis (upsample each bin by hop_length, filter with its wavelet) followed by the
    inverse of the filter bank's summed power response sum_k |H_k(f)|^2 / hop, a diagonal frame operator;
    exact only where no band aliases after decimation by hop_length, so error grows with hop_length and with
    frequency, and nothing outside [fmin, top bin] is recovered. Measured error: see tests and the report.
    coeffs: complex [n_frames, n_bins]. n_samples: output length (default (n_frames - 1) * hop_length).
    Returns float64 [n_samples]. Real-time safe: no (allocates).
    """
    from scipy.fft import fft, irfft

    coeffs = np.asarray(coeffs)
    n_frames, n_bins = coeffs.shape
    if n_samples is None:
        n_samples = (n_frames - 1) * hop_length
    lengths = cqt_lengths(sample_rate, fmin_hz, n_bins, bins_per_octave, filter_scale)
    n_fft, n_frames_grid = _cqt_grid(n_samples, hop_length, lengths.max())
    spectra, lengths = _cqt_filter_spectra(sample_rate, fmin_hz, n_bins, bins_per_octave, filter_scale, n_fft)
    m = n_fft // hop_length
    n_use = min(n_frames, n_frames_grid, m)
    n_pos = n_fft // 2 + 1
    acc = np.zeros(n_pos, dtype=np.complex128)
    power = np.zeros(n_pos)
    for k, (lo, values) in enumerate(spectra):
        c = np.zeros(m, dtype=np.complex128)
        c[:n_use] = coeffs[:n_use, k] / np.sqrt(lengths[k])
        # Upsampling by hop repeats the length-m spectrum hop times across the n_fft grid.
        up = fft(c)[np.arange(lo, lo + len(values)) % m]
        acc[lo:lo + len(values)] += up * values
        power[lo:lo + len(values)] += np.abs(values) ** 2
    # The analysis keeps positive frequencies only (an analytic filter bank); the frame operator is then
    # sum_k |H_k|^2 / hop on them. Regularise where the bank has no response (outside its range).
    eps = 1e-3 * power.max()
    # irfft of the positive half rebuilds the real signal (Hermitian symmetry) from what the bank saw.
    y = irfft(acc * hop_length / (power + eps), n=n_fft)
    return y[:n_samples]
