"""Real-time phase reconstruction from STFT magnitude: RTPGHI.

Phase-gradient heap integration (Průša, Balazs & Søndergaard 2017, "A noniterative method for reconstruction
of phase from STFT magnitude"; real-time variant: Průša & Holighaus 2017, "Toward high-quality real-time
signal reconstruction from STFT magnitude").

For a gaussian window g(t) = exp(-pi t^2 / lambda) (t in samples) the STFT phase gradient follows from the
log-magnitude s = log|X|. In the time-invariant convention (phase referred to the frame centre):
  d phi / dt     = 2 pi k / n_fft + (n_fft / lambda) * ds/dk          [rad / sample]
  d phi / dk     = -(lambda / n_fft) * ds/dt                          [rad / bin]
(ds/dk per bin, ds/dt per sample). Other windows use the lambda of the gaussian that best matches them
(`gaussian_lambda`). Frame t's phase is integrated from frame t-1 (trapezoid in time) and across bins
(trapezoid in frequency), always from the largest coefficient already known (a max-heap), so errors start
where the magnitude is small. ds/dt is a centred difference with one frame of look-ahead, or a backward
difference without it. Bins below `tol` x the frames' peak get random phase.

Phases returned by the public functions follow `synth.spectral.stft`'s convention (frame sample 0 at
t*hop - n_fft/2), i.e. the time-invariant phase plus pi*k.

API: `rtpghi_frame` (pure step: frames t-1, t, t+1 and frame t-1's phase/derivative in, frame t's out),
`RtpghiState` (streaming: push magnitude frames, get phases), `rtpghi` (batch, frame by frame as in real
time). Real-time use: `RtpghiState` preallocates everything; `rtpghi_frame_kernel` is the numba nogil kernel
(allocates nothing) that all of them call.
"""

from __future__ import annotations

import numba
import numpy as np

from vaesynth.synth.config import SpectralConfig
from vaesynth.synth.spectral import analysis_window

# Natural-log floor for magnitudes (|X| = 1e-30 -> -69): finite, so differences never produce NaN.
LOG_FLOOR = float(np.log(1e-30))
DEFAULT_TOL = 1e-5


def gaussian_lambda(window: np.ndarray) -> float:
    """Spread lambda (samples^2) of the gaussian exp(-pi t^2 / lambda) that best matches `window`.

    Matched on the second moment of the window's energy w^2 (a gaussian g has var(g^2) = lambda/(4 pi)),
    which gives 0.2514 n^2 for a hann window of length n (ltfat uses 0.25645 n^2; both reconstruct alike,
    see benchmarks/bench_phase.py).
    window: [n_fft] float, centred at n_fft/2 (periodic window as `analysis_window` gives).
    Real-time safe: no.
    """
    w = np.asarray(window, dtype=np.float64)
    t = np.arange(len(w)) - len(w) / 2
    e = w * w
    var = float(np.sum(e * t * t) / np.sum(e))
    return 4.0 * np.pi * var


@numba.njit(nogil=True, cache=True, inline="always")
def _heap_push(heap_val, heap_idx, size, val, idx):
    i = size
    heap_val[i] = val
    heap_idx[i] = idx
    while i > 0:
        parent = (i - 1) >> 1
        if heap_val[parent] >= heap_val[i]:
            break
        tv = heap_val[parent]
        ti = heap_idx[parent]
        heap_val[parent] = heap_val[i]
        heap_idx[parent] = heap_idx[i]
        heap_val[i] = tv
        heap_idx[i] = ti
        i = parent
    return size + 1


@numba.njit(nogil=True, cache=True, inline="always")
def _heap_pop(heap_val, heap_idx, size):
    """Removes the max; returns (new_size, idx)."""
    top = heap_idx[0]
    size -= 1
    heap_val[0] = heap_val[size]
    heap_idx[0] = heap_idx[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        c = left
        if left + 1 < size and heap_val[left + 1] > heap_val[left]:
            c = left + 1
        if heap_val[i] >= heap_val[c]:
            break
        tv = heap_val[c]
        ti = heap_idx[c]
        heap_val[c] = heap_val[i]
        heap_idx[c] = heap_idx[i]
        heap_val[i] = tv
        heap_idx[i] = ti
        i = c
    return size, top


@numba.njit(nogil=True, cache=True, inline="always")
def _rand_phase(rng_state):
    """xorshift64 -> uniform phase in [0, 2 pi). rng_state: uint64 [1], advanced in place."""
    x = rng_state[0]
    x ^= x << numba.uint64(13)
    x ^= x >> numba.uint64(7)
    x ^= x << numba.uint64(17)
    rng_state[0] = x
    return (x >> numba.uint64(11)) * (2.0 * np.pi / 9007199254740992.0)


@numba.njit(nogil=True, cache=True)
def tgrad_kernel(s, n_fft, lam, floor, out_tgrad):
    """Time derivative of the (time-invariant) phase, rad/sample, from the frequency derivative of s.

    s: float64 [n_bins] natural-log magnitude; values below `floor` count as `floor`. out_tgrad: [n_bins].
    Real-time safe: yes.
    """
    m = s.shape[0]
    c = n_fft / lam
    w = 2.0 * np.pi / n_fft
    for k in range(m):
        if k == 0 or k == m - 1:
            # Symmetric spectrum at DC and Nyquist: ds/dk = 0 there.
            out_tgrad[k] = w * k
            continue
        a = max(s[k - 1], floor)
        b = max(s[k + 1], floor)
        out_tgrad[k] = w * k + c * 0.5 * (b - a)


@numba.njit(nogil=True, cache=True)
def rtpghi_frame_kernel(
    s_prev,
    s_cur,
    s_next,
    has_next,
    phase_prev,
    tgrad_prev,
    hop_length,
    n_fft,
    lam,
    log_tol,
    rng_state,
    out_phase,
    out_tgrad,
    fgrad,
    heap_val,
    heap_idx,
    todo,
):
    """One RTPGHI step: phase of frame t from frame t-1 (time-invariant convention, no pi*k term).

    s_prev, s_cur, s_next: float64 [n_bins] natural-log magnitudes of frames t-1, t, t+1 (s_next read only
    if has_next: centred ds/dt; else backward difference). phase_prev: float64 [n_bins] phase of frame t-1;
    tgrad_prev: its d phi/dt (rad/sample) as this kernel returned it. hop_length, n_fft: samples; lam:
    gaussian lambda (samples^2); log_tol: log of the relative tolerance (bins more than this below the peak
    of frames t-1 and t get random phase). rng_state: uint64 [1]. Outputs: out_phase, out_tgrad [n_bins]
    (out_tgrad is frame t's d phi/dt, pass it as tgrad_prev next time). Scratch: fgrad [n_bins], heap_val
    float64 [2 n_bins], heap_idx int64 [2 n_bins], todo bool [n_bins].
    Real-time safe: yes (no allocation).
    """
    m = s_cur.shape[0]
    peak = -1e300
    for k in range(m):
        if s_cur[k] > peak:
            peak = s_cur[k]
        if s_prev[k] > peak:
            peak = s_prev[k]
    # Bins at the log floor (zero magnitude) are never significant, even in a silent frame.
    floor = max(peak + log_tol, LOG_FLOOR + 1.0)
    tgrad_kernel(s_cur, n_fft, lam, floor, out_tgrad)
    # d phi/dk (rad per bin) = -(lam / n_fft) * ds/dt (per sample).
    cf = -lam / n_fft
    for k in range(m):
        sc = max(s_cur[k], floor)
        sp = max(s_prev[k], floor)
        if has_next:
            sn = max(s_next[k], floor)
            fgrad[k] = cf * (sn - sp) / (2.0 * hop_length)
        else:
            fgrad[k] = cf * (sc - sp) / hop_length
    n_todo = 0
    size = 0
    for k in range(m):
        if s_cur[k] > floor:
            todo[k] = True
            n_todo += 1
        else:
            todo[k] = False
            out_phase[k] = _rand_phase(rng_state)
        if s_prev[k] > floor:
            # Index < m: a bin of frame t-1 (phase known).
            size = _heap_push(heap_val, heap_idx, size, s_prev[k], k)
    half_hop = 0.5 * hop_length
    while n_todo > 0:
        if size == 0:
            # No known neighbour left: start from the largest remaining bin, integrated in time anyway.
            best = -1
            bv = -1e300
            for k in range(m):
                if todo[k] and s_cur[k] > bv:
                    bv = s_cur[k]
                    best = k
            out_phase[best] = phase_prev[best] + half_hop * (tgrad_prev[best] + out_tgrad[best])
            todo[best] = False
            n_todo -= 1
            size = _heap_push(heap_val, heap_idx, size, s_cur[best], best + m)
            continue
        size, idx = _heap_pop(heap_val, heap_idx, size)
        if idx < m:
            k = idx
            if todo[k]:
                out_phase[k] = phase_prev[k] + half_hop * (tgrad_prev[k] + out_tgrad[k])
                todo[k] = False
                n_todo -= 1
                size = _heap_push(heap_val, heap_idx, size, s_cur[k], k + m)
        else:
            k = idx - m
            if k + 1 < m and todo[k + 1]:
                out_phase[k + 1] = out_phase[k] + 0.5 * (fgrad[k] + fgrad[k + 1])
                todo[k + 1] = False
                n_todo -= 1
                size = _heap_push(heap_val, heap_idx, size, s_cur[k + 1], k + 1 + m)
            if k - 1 >= 0 and todo[k - 1]:
                out_phase[k - 1] = out_phase[k] - 0.5 * (fgrad[k] + fgrad[k - 1])
                todo[k - 1] = False
                n_todo -= 1
                size = _heap_push(heap_val, heap_idx, size, s_cur[k - 1], k - 1 + m)
    # Keep phases bounded so float64 keeps its precision over hours of streaming (random ones already are).
    two_pi = 2.0 * np.pi
    inv = 1.0 / two_pi
    for k in range(m):
        if s_cur[k] > floor:
            x = out_phase[k]
            out_phase[k] = x - two_pi * np.floor(x * inv)


@numba.njit(nogil=True, cache=True)
def log_magnitude_kernel(mag, out_log):
    """out_log = log(max(mag, 1e-30)). mag: [n_bins] float32/64. Real-time safe: yes."""
    for k in range(mag.shape[0]):
        v = mag[k]
        out_log[k] = np.log(v) if v > 1e-30 else LOG_FLOOR


class RtpghiScratch:
    """Scratch arrays for `rtpghi_frame` (preallocate once per stream). n_bins: n_fft//2 + 1."""

    def __init__(self, n_bins: int):
        self.fgrad = np.zeros(n_bins)
        self.heap_val = np.zeros(2 * n_bins)
        self.heap_idx = np.zeros(2 * n_bins, dtype=np.int64)
        self.todo = np.zeros(n_bins, dtype=np.bool_)


def rtpghi_frame(
    log_mag_prev,
    log_mag_cur,
    log_mag_next,
    phase_prev,
    tgrad_prev,
    hop_length: int,
    n_fft: int,
    lam: float,
    out_phase,
    out_tgrad,
    tol: float = DEFAULT_TOL,
    rng_state=None,
    scratch: RtpghiScratch | None = None,
) -> None:
    """One RTPGHI step as a pure function of the frames and the previous frame's state.

    log_mag_prev/cur/next: float64 [n_bins] natural-log magnitudes of frames t-1, t, t+1 (log_mag_next None:
    no look-ahead, backward time derivative). phase_prev: float64 [n_bins] frame-centred phase of t-1 (as
    this function returned it; add pi*k for `synth.spectral.stft`'s convention); tgrad_prev: its d phi/dt
    (rad/sample). lam: gaussian lambda (samples^2, `gaussian_lambda`). out_phase, out_tgrad: float64
    [n_bins], written. tol: relative tolerance for random phase. rng_state: uint64 [1] (advanced).
    scratch: `RtpghiScratch` (allocated here if None, which makes the call not real-time safe).
    Real-time safe: yes, with scratch and rng_state given.
    """
    m = len(log_mag_cur)
    if scratch is None:
        scratch = RtpghiScratch(m)
    if rng_state is None:
        rng_state = np.array([0x9E3779B97F4A7C15], dtype=np.uint64)
    has_next = log_mag_next is not None
    nxt = log_mag_next if has_next else log_mag_cur
    rtpghi_frame_kernel(
        log_mag_prev,
        log_mag_cur,
        nxt,
        has_next,
        phase_prev,
        tgrad_prev,
        hop_length,
        n_fft,
        lam,
        float(np.log(tol)),
        rng_state,
        out_phase,
        out_tgrad,
        scratch.fgrad,
        scratch.heap_val,
        scratch.heap_idx,
        scratch.todo,
    )


class RtpghiState:
    """Streaming RTPGHI: push magnitude frames one at a time, get phases `lookahead` frames later.

    n_fft, hop_length: samples (n_bins = n_fft//2 + 1). lam: gaussian lambda in samples^2 (default: matched to
    the hann window of length n_fft). lookahead: 0 (backward ds/dt, no delay) or 1 (centred ds/dt, one hop
    of delay). tol: relative magnitude below which bins get random phase. seed: random-phase generator seed.
    Real-time safe: `push` yes after construction (all buffers preallocated).
    """

    def __init__(
        self,
        n_fft: int,
        hop_length: int,
        lam: float | None = None,
        lookahead: int = 1,
        tol: float = DEFAULT_TOL,
        seed: int = 1,
    ):
        if lookahead not in (0, 1):
            raise ValueError(f"lookahead must be 0 or 1 hops, got {lookahead}")
        if not (0 < tol < 1):
            raise ValueError(f"tol must be in (0, 1), got {tol}")
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        self.n_bins = self.n_fft // 2 + 1
        if lam is None:
            lam = gaussian_lambda(
                analysis_window(SpectralConfig(n_fft=self.n_fft, hop_length=self.hop_length))
            )
        self.lam = float(lam)
        self.lookahead = int(lookahead)
        self.log_tol = float(np.log(tol))
        m = self.n_bins
        self.s = np.full((3, m), LOG_FLOOR)  # rows: prev, cur, next
        self.phase_prev = np.zeros(m)
        self.tgrad_prev = 2 * np.pi * np.arange(m) / self.n_fft
        self.out_phase = np.zeros(m)
        self.out_tgrad = np.zeros(m)
        self.fgrad = np.zeros(m)
        self.heap_val = np.zeros(2 * m)
        self.heap_idx = np.zeros(2 * m, dtype=np.int64)
        self.todo = np.zeros(m, dtype=np.bool_)
        self.rng_state = np.array([np.uint64(seed * 0x9E3779B97F4A7C15 % 2**64 or 1)], dtype=np.uint64)
        self.pi_k = np.pi * np.arange(m)
        self.n_pushed = 0

    def reset(self) -> None:
        """Forget all frames (a new signal starts). Real-time safe: yes."""
        self.s.fill(LOG_FLOOR)
        self.phase_prev.fill(0.0)
        self.tgrad_prev[:] = 2 * np.pi * np.arange(self.n_bins) / self.n_fft
        self.n_pushed = 0

    def _step(self, has_next: bool) -> None:
        rtpghi_frame_kernel(
            self.s[0],
            self.s[1],
            self.s[2],
            has_next,
            self.phase_prev,
            self.tgrad_prev,
            self.hop_length,
            self.n_fft,
            self.lam,
            self.log_tol,
            self.rng_state,
            self.out_phase,
            self.out_tgrad,
            self.fgrad,
            self.heap_val,
            self.heap_idx,
            self.todo,
        )
        self.phase_prev[:] = self.out_phase
        self.tgrad_prev[:] = self.out_tgrad

    def push(self, magnitude: np.ndarray, out_phase: np.ndarray) -> bool:
        """Add the next magnitude frame (linear, float [n_bins]).

        Writes into out_phase (float64 [n_bins], stft convention) the phase of the frame pushed `lookahead`
        calls ago and returns True, or returns False while the look-ahead is still filling.
        """
        s = self.s
        if self.lookahead == 1:
            s[0] = s[1]
            s[1] = s[2]
            log_magnitude_kernel(magnitude, s[2])
            self.n_pushed += 1
            if self.n_pushed < 2:
                return False
            self._step(True)
        else:
            s[0] = s[1]
            log_magnitude_kernel(magnitude, s[1])
            self._step(False)
        np.add(self.out_phase, self.pi_k, out=out_phase)
        return True

    def flush(self, out_phase: np.ndarray) -> bool:
        """Phase of the last pushed frame when no next one will come (backward ds/dt); False if none."""
        if self.lookahead == 0 or self.n_pushed == 0:
            return False
        s = self.s
        s[0] = s[1]
        s[1] = s[2]
        self._step(False)
        self.n_pushed = 0
        np.add(self.out_phase, self.pi_k, out=out_phase)
        return True


def rtpghi(
    magnitudes: np.ndarray,
    config: SpectralConfig,
    lookahead: int = 1,
    tol: float = DEFAULT_TOL,
    lam: float | None = None,
    seed: int = 1,
) -> np.ndarray:
    """Phase for a sequence of STFT magnitude frames, frame by frame as the real-time version runs.

    magnitudes: [n_frames, n_bins] linear magnitudes (as `synth.spectral.magnitude` gives for `config`).
    lookahead: 0 or 1 frames. lam: gaussian lambda (samples^2), default matched to config's window.
    Returns float64 [n_frames, n_bins] phases in stft's convention: `istft(magnitudes * exp(1j*phase))`.
    Real-time safe: no (allocates the result).
    """
    mags = np.asarray(magnitudes, dtype=np.float64)
    if mags.ndim != 2 or mags.shape[1] != config.n_bins:
        raise ValueError(f"magnitudes must be [n_frames, {config.n_bins}], got {mags.shape}")
    if lam is None:
        lam = gaussian_lambda(analysis_window(config))
    state = RtpghiState(config.n_fft, config.hop_length, lam=lam, lookahead=lookahead, tol=tol, seed=seed)
    phases = np.zeros(mags.shape)
    t_out = 0
    for t in range(mags.shape[0]):
        if state.push(mags[t], phases[t_out]):
            t_out += 1
    if state.flush(phases[t_out] if t_out < len(phases) else np.zeros(config.n_bins)):
        t_out += 1
    return phases


def random_phase(shape, seed: int = 0) -> np.ndarray:
    """Uniform random phases in [0, 2 pi), float64 of `shape` (the baseline RTPGHI is measured against)."""
    return np.random.default_rng(seed).uniform(0.0, 2 * np.pi, size=shape)
