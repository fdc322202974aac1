"""Inverse-STFT voice renderer: per voice, a re-pitched magnitude frame each hop, RTPGHI phase, irfft,
window, overlap-add.

Per voice and hop (all in one numba nogil kernel, nothing allocated):
  1. Magnitude. The timbre's harmonic amplitudes (the oscbank's peak picking, `oscbank.harmonic_amplitudes`:
     partial k's sinusoid amplitude a_k at k * f_ref) are redrawn on the output STFT grid at k * f_note, each
     as the main lobe of the output analysis window, a gaussian g(t) = exp(-pi t^2 / lambda):
       |X[b]| = a_k / 2 * sqrt(lambda) * exp(-pi lambda (b - q_k)^2 / n_fft^2),  q_k = k f_note n_fft / sr,
     so partials land on k * f_note exactly whatever the timbre's own sample rate and n_fft, and the lobe is
     exactly what RTPGHI's phase-gradient model assumes (its log is a parabola, so the centred-difference
     instantaneous frequency of every bin of the lobe is the partial's frequency). Lobes are combined by
     max in the log domain (each bin follows its dominant partial). Partials at/above Nyquist are dropped,
     above NYQUIST_FADE_START * Nyquist faded with a raised cosine (as the oscbank does). While f0 moves
     (bend, vibrato) each lobe is that of a linear chirp (wider, lower; `istft_draw.draw_harmonics_kernel`).
     Noise: the timbre's floor between harmonics (`istft_noise.split_noise_floor`: valley medians minus
     the partials' window leakage; partial amplitudes keep only their power above it) is resampled to the
     note (f -> f * f_note / f_ref, power density / ratio so that its power is kept) and added with random
     phase each frame (`istft_draw.add_noise_kernel`): white noise of variance sigma^2 in the timbre plays
     as noise of PSD 2 sigma^2 / (sr_model * ratio) (tested within 1 dB). Clean harmonic timbres have no
     floor.
  2. Phase: RTPGHI (`synth.rtpghi.rtpghi_frame_kernel`), with one hop of look-ahead (centred time
     derivative; the frame synthesised now is the one computed a hop ago) or none.
  3. irfft (`synth.nbfft`), times a synthesis window, overlap-added into the voice's buffer, together
     with the window product g * w_s in a normalisation buffer; output = ola / norm. Normalising by the
     windows actually summed makes a note start at full level from its first sample (no frames before the
     onset are needed), and it is exact for a consistent spectrum, whatever w_s. So w_s is asymmetric
     (`synthesis_window`): it rises over attack_length samples (default n_fft/8) to the frame centre and
     falls as a hann after it. A frame is then needed only attack_length samples before its centre instead
     of n_fft/2, which cuts the delay of control changes from ~n_fft/2 to ~centre_delay_samples
     (1250 -> 500 samples measured at 48 kHz, n_fft 2048) at equal quality (benchmarks/bench_istft.py).
  4. The voice's per-sample gain multiplies its overlap-added signal (envelope after synthesis).

Level scale: 1. A timbre partial of amplitude a (the timbre frame being what the model's STFT measures for a
sinusoid of amplitude a, the oscbank's convention) comes out as a sinusoid of amplitude a * gain (measured
within 1 dB in tests), so engine switches keep the level.

Timbre changes: the harmonic amplitudes ramp linearly over `timbre_ramp_ms`; on top, consecutive frames
overlap by n_fft - hop samples, so any change is crossfaded by the overlap-add (click-free).

Latency. Note starts: 0 (heard from the next sample, at full level). Pitch/timbre changes: they enter the
next frame synthesised (within a hop), which with look-ahead is used one hop later (`latency_samples` =
lookahead * hop_length, the protocol's figure); that frame's weight in the output is centred
`centre_delay_samples` after it starts (412 at 48 kHz defaults, by the window's centre of mass). Measured
against the oscbank on vibrato: the istft output lags it by ~500 samples (10 ms) at the defaults, ~1250
with a symmetric hann (attack_length = n_fft/2).

Load: each voice computes one frame per hop; voices' frame grids are staggered by multiples of the chunk so
that, with hop = 4 chunks, a quarter of the voices do a frame in any given chunk.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from vaesynth.synth.istft_draw import add_noise_kernel, draw_harmonics_kernel, gaussian_window_circular
from vaesynth.synth.istft_noise import split_noise_floor
from vaesynth.synth.nbfft import IrfftPlan, irfft_kernel
from vaesynth.synth.oscbank import MAX_PARTIALS, harmonic_amplitudes
from vaesynth.synth.protocol import Timbre
from vaesynth.synth.rtpghi import DEFAULT_TOL, LOG_FLOOR, gaussian_lambda, rtpghi_frame_kernel, tgrad_kernel
from vaesynth.synth.spectral import analysis_window

# Window length ~43 ms: 2048 at 44.1/48 kHz, resolving partials down to MIDI ~36 (65 Hz, 2.8 bins apart).
WINDOW_SECONDS = 2048 / 48000


def default_n_fft(sample_rate: int) -> int:
    """Power of two nearest to WINDOW_SECONDS at sample_rate: 1024 at 22.05 kHz, 2048 at 48, 4096 at 96."""
    return int(2 ** round(math.log2(sample_rate * WINDOW_SECONDS)))


def synthesis_window(n_fft: int, attack_length: int) -> np.ndarray:
    """Asymmetric synthesis window [n_fft], frame centre at n_fft/2: zero until n_fft/2 - attack_length,
    a raised-sine rise to 1 at the centre, then the right half of a hann of length n_fft.

    A frame only has to exist attack_length samples before its centre (instead of n_fft/2 with a symmetric
    window), so controls reach the output sooner; the rise keeps frames entering the mix smoothly
    (attack_length = n_fft/2 is the plain hann)."""
    n = np.arange(n_fft, dtype=np.float64)
    half = n_fft // 2
    w = np.where(n >= half, np.cos(np.pi * (n - half) / n_fft) ** 2, 0.0)
    rise = (n >= half - attack_length) & (n < half)
    w[rise] = np.sin(0.5 * np.pi * (n[rise] - (half - attack_length)) / attack_length) ** 2
    return w


def control_delay(win_norm: np.ndarray, attack_length: int) -> int:
    """Delay (samples) from the moment a frame is synthesised (when its first nonzero sample is due) to the
    centre of mass of its weight in the output: the effective window win_norm (synthesis x analysis)
    counted from that sample."""
    first = len(win_norm) // 2 - attack_length
    w = win_norm[first:]
    d = np.arange(len(w))
    return int(round(float(np.sum(w * d) / np.sum(w))))


def _random_phase_ola_gain(win_out: np.ndarray, g: np.ndarray, hop_length: int) -> float:
    """RMS gain the normalised overlap-add applies to independent random-phase frames (steady state):
    sqrt(mean_n sum_t w_s^2 / (sum_t w_s g)^2) over one hop."""
    n_fft = len(win_out)
    s2 = np.zeros(hop_length)
    nm = np.zeros(hop_length)
    n = np.arange(hop_length)
    for shift in range(-n_fft, n_fft + 1, hop_length):
        idx = n - shift + n_fft // 2
        ok = (idx >= 0) & (idx < n_fft)
        s2[ok] += win_out[idx[ok]] ** 2
        nm[ok] += win_out[idx[ok]] * g[idx[ok]]
    return float(np.sqrt(np.mean(s2 / nm**2)))


@numba.njit(nogil=True, cache=True)
def _synth_frame(
    v,
    s3,
    phase_prev,
    tgrad_prev,
    fresh,
    extrapolate,
    lookahead,
    hop,
    n_fft,
    lam,
    log_tol,
    rng,
    frame_start,
    first,
    noise_env,
    n_env,
    noise_scale,
    f0_hz,
    sample_rate,
    ola,
    norm,
    win_out,
    win_norm,
    mask,
    out_phase,
    out_tgrad,
    fgrad,
    heap_val,
    heap_idx,
    todo,
    spec_re,
    spec_im,
    y,
    bitrev,
    tw_re,
    tw_im,
    post_re,
    post_im,
    z_re,
    z_im,
):
    """Phase (RTPGHI) + irfft + overlap-add of voice v's frame whose rows are in s3[v] (prev, cur, next)."""
    m = s3.shape[2]
    if fresh:
        # Note onset: pretend the frame before was the same spectrum with zero phase.
        peak = -1e300
        for b in range(m):
            peak = max(peak, s3[v, 1, b])
        tgrad_kernel(s3[v, 1], n_fft, lam, max(peak + log_tol, -700.0), tgrad_prev[v])
        for b in range(m):
            phase_prev[v, b] = 0.0
    if extrapolate:
        # Onset frames after the first: the same magnitude as the frame before (one render call, one pitch),
        # so RTPGHI would integrate every bin in time with d phi/dt unchanged: do just that, without the heap.
        for b in range(m):
            out_tgrad[b] = tgrad_prev[v, b]
            out_phase[b] = phase_prev[v, b] + hop * tgrad_prev[v, b]
    else:
        rtpghi_frame_kernel(
            s3[v, 0],
            s3[v, 1],
            s3[v, 2],
            lookahead == 1,
            phase_prev[v],
            tgrad_prev[v],
            hop,
            n_fft,
            lam,
            log_tol,
            rng[v],
            out_phase,
            out_tgrad,
            fgrad,
            heap_val,
            heap_idx,
            todo,
        )
    for b in range(m):
        phase_prev[v, b] = out_phase[b]
        tgrad_prev[v, b] = out_tgrad[b]
        s = s3[v, 1, b]
        if s > LOG_FLOOR + 1.0:
            a = math.exp(s)
            # (-1)^b: the frame's time origin is its first sample, not its centre (stft convention).
            if b & 1:
                a = -a
            spec_re[b] = a * math.cos(out_phase[b])
            spec_im[b] = a * math.sin(out_phase[b])
        else:
            spec_re[b] = 0.0
            spec_im[b] = 0.0
    add_noise_kernel(noise_env, n_env, noise_scale, f0_hz, sample_rate, n_fft, rng[v], spec_re, spec_im)
    irfft_kernel(spec_re, spec_im, y, bitrev, tw_re, tw_im, post_re, post_im, z_re, z_im)
    for n in range(first, n_fft):
        t = frame_start + n
        if t < 0:
            continue  # before the note: never read
        i = t & mask
        ola[v, i] += y[n] * win_out[n]
        norm[v, i] += win_norm[n]


@numba.njit(nogil=True, cache=True)
def istft_render_kernel(
    amps,
    n_partials,
    noise_env,
    n_env,
    noise_scale,
    f0_hz,
    gain,
    active,
    out,
    sample_rate,
    n_fft,
    hop,
    attack,
    lookahead,
    lam,
    log_tol,
    radius_bins,
    s3,
    phase_prev,
    tgrad_prev,
    fresh,
    pos,
    next_frame,
    frame_off,
    frame_f0,
    rng,
    ola,
    norm,
    win_out,
    win_norm,
    new_log,
    out_phase,
    out_tgrad,
    fgrad,
    heap_val,
    heap_idx,
    todo,
    spec_re,
    spec_im,
    y,
    bitrev,
    tw_re,
    tw_im,
    post_re,
    post_im,
    z_re,
    z_im,
):
    """Add one chunk of all active voices into out (see IstftRenderer.render). Real-time safe: yes."""
    chunk = out.shape[0]
    half = n_fft // 2
    mask = ola.shape[1] - 1
    m = s3.shape[2]
    for v in range(f0_hz.shape[0]):
        if not active[v]:
            continue
        p0 = pos[v]
        onset = fresh[v]
        n_done = 0
        # Synthesize every frame whose left edge falls before the end of this chunk.
        while True:
            centre = next_frame[v] * hop - frame_off[v]
            if centre - attack >= p0 + chunk:
                break
            f0 = float(f0_hz[v])
            rate = 0.0 if fresh[v] else (f0 - frame_f0[v]) / hop
            frame_f0[v] = f0
            draw_harmonics_kernel(amps, n_partials, f0, rate, sample_rate, n_fft, lam, radius_bins, new_log)
            if fresh[v]:
                for r in range(3):
                    for b in range(m):
                        s3[v, r, b] = new_log[b]
            elif lookahead == 1:
                for b in range(m):
                    s3[v, 0, b] = s3[v, 1, b]
                    s3[v, 1, b] = s3[v, 2, b]
                    s3[v, 2, b] = new_log[b]
            else:
                for b in range(m):
                    s3[v, 0, b] = s3[v, 1, b]
                    s3[v, 1, b] = new_log[b]
            extrapolate = onset and n_done > 0
            _synth_frame(
                v,
                s3,
                phase_prev,
                tgrad_prev,
                fresh[v],
                extrapolate,
                lookahead,
                hop,
                n_fft,
                lam,
                log_tol,
                rng,
                centre - half,
                half - attack,
                noise_env,
                n_env,
                noise_scale,
                f0,
                sample_rate,
                ola,
                norm,
                win_out,
                win_norm,
                mask,
                out_phase,
                out_tgrad,
                fgrad,
                heap_val,
                heap_idx,
                todo,
                spec_re,
                spec_im,
                y,
                bitrev,
                tw_re,
                tw_im,
                post_re,
                post_im,
                z_re,
                z_im,
            )
            fresh[v] = False
            next_frame[v] += 1
            n_done += 1
        for n in range(chunk):
            i = (p0 + n) & mask
            w = norm[v, i]
            if w > 1e-9:
                out[n] += np.float32(ola[v, i] / w) * gain[v, n]
            ola[v, i] = 0.0
            norm[v, i] = 0.0
        pos[v] = p0 + chunk


class IstftRenderer:
    """VoiceRenderer (synth/protocol.py): inverse STFT with RTPGHI phase.

    sample_rate: output Hz (22050..96000). max_voices: slots. hop_length: samples between frames (default
    n_fft / 8: 256 at 48 kHz). n_fft: FFT size, a power of two (default `default_n_fft(sample_rate)`).
    lookahead: 0 or 1 hop for RTPGHI's time derivative. chunk_size: samples per `render` (any value).
    timbre_ramp_ms: time a new timbre's amplitudes take to settle. tol: RTPGHI's relative tolerance.
    max_partials: harmonics kept from a timbre. attack_length: rise of the synthesis window before each
    frame's centre (samples, 1..n_fft/2, default n_fft/8; n_fft/2 = symmetric hann).
    noise: render the timbre's floor between harmonics as noise (else partials only, like the oscbank).
    latency_samples = lookahead * hop_length; centre_delay_samples: see the module docstring.
    """

    def __init__(
        self,
        sample_rate: int,
        max_voices: int,
        hop_length: int | None = None,
        n_fft: int | None = None,
        lookahead: int = 1,
        chunk_size: int = 64,
        timbre_ramp_ms: float = 8.0,
        tol: float = DEFAULT_TOL,
        max_partials: int = MAX_PARTIALS,
        attack_length: int | None = None,
        noise: bool = True,
    ):
        if not (8000 <= int(sample_rate) <= 192000):
            raise ValueError(f"sample_rate must be in 8000..192000 Hz, got {sample_rate}")
        if int(max_voices) < 1:
            raise ValueError(f"max_voices must be >= 1, got {max_voices}")
        if lookahead not in (0, 1):
            raise ValueError(f"lookahead must be 0 or 1 hops, got {lookahead}")
        if not (1 <= int(chunk_size) <= 8192):
            raise ValueError(f"chunk_size must be in 1..8192, got {chunk_size}")
        self.sample_rate = int(sample_rate)
        self.max_voices = int(max_voices)
        self.chunk_size = int(chunk_size)
        self.n_fft = int(n_fft) if n_fft is not None else default_n_fft(self.sample_rate)
        if self.n_fft < 64 or self.n_fft & (self.n_fft - 1):
            raise ValueError(f"n_fft must be a power of two >= 64, got {self.n_fft}")
        self.hop_length = int(hop_length) if hop_length is not None else self.n_fft // 8
        if not (1 <= self.hop_length <= self.n_fft // 4):
            raise ValueError(f"hop_length must be in 1..n_fft/4 = {self.n_fft // 4}, got {self.hop_length}")
        self.lookahead = int(lookahead)
        self.latency_samples = self.lookahead * self.hop_length
        self.attack_length = int(attack_length) if attack_length is not None else self.n_fft // 8
        if not (1 <= self.attack_length <= self.n_fft // 2):
            raise ValueError(f"attack_length must be in 1..n_fft/2 = {self.n_fft // 2}, got {attack_length}")
        self.max_partials = int(max_partials)
        self._ramp_chunks = max(1, int(math.ceil(timbre_ramp_ms * 1e-3 * self.sample_rate / self.chunk_size)))

        n, m, v = self.n_fft, self.n_fft // 2 + 1, self.max_voices
        win_hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
        # Output "analysis" window: the gaussian matched to a hann of the same length.
        self.lam = gaussian_lambda(win_hann)
        g = gaussian_window_circular(n, self.lam)
        self._win_out = synthesis_window(n, self.attack_length)
        self._win_norm = self._win_out * g
        self.centre_delay_samples = control_delay(self._win_norm, self.attack_length)
        self._log_tol = float(np.log(tol))
        # Lobe drawn down to the tolerance (below it RTPGHI ignores the bins anyway).
        self._radius_bins = float(math.sqrt(-math.log(tol * 0.1) * n * n / (math.pi * self.lam)))
        self._plan = IrfftPlan(n)

        self._s3 = np.full((v, 3, m), LOG_FLOOR)
        self._phase_prev = np.zeros((v, m))
        self._tgrad_prev = np.zeros((v, m))
        self._fresh = np.ones(v, dtype=np.bool_)
        self._pos = np.zeros(v, dtype=np.int64)
        self._next_frame = np.zeros(v, dtype=np.int64)
        self._frame_f0 = np.zeros(v)  # f0 of each voice's latest frame (its chirp rate is the change)
        self._frame_off = np.zeros(v, dtype=np.int64)
        self._rng = (np.arange(1, v + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)).reshape(v, 1)
        buf = 1 << int(math.ceil(math.log2(2 * n + self.chunk_size)))
        self._ola = np.zeros((v, buf))
        self._norm = np.zeros((v, buf))
        self._new_log = np.zeros(m)
        self._out_phase = np.zeros(m)
        self._out_tgrad = np.zeros(m)
        self._fgrad = np.zeros(m)
        self._heap_val = np.zeros(2 * m)
        self._heap_idx = np.zeros(2 * m, dtype=np.int64)
        self._todo = np.zeros(m, dtype=np.bool_)
        self._spec_re = np.zeros(m)
        self._spec_im = np.zeros(m)
        self._y = np.zeros(n)

        # Noise floor (residual between harmonics), see set_timbre / add_noise_kernel.
        self.noise = bool(noise)
        self._noise_env = np.zeros(self.max_partials + 1, np.float32)
        self._n_env = 0
        self._noise_scale = 0.0
        self._noise_gain = _random_phase_ola_gain(self._win_out, g, self.hop_length)
        self._amp_cur = np.zeros(self.max_partials, np.float32)
        self._amp_next = np.zeros(self.max_partials, np.float32)
        self._amp_target = np.zeros(self.max_partials, np.float32)
        self._n_partials = 0
        self._target_n_partials = 0
        self._ramp_left = 0
        self._starts = 0
        self.timbre: Timbre | None = None

    def set_timbre(self, timbre: Timbre) -> None:
        """New target timbre; its harmonic amplitudes ramp in over timbre_ramp_ms. Real-time safe: no (small
        allocation for the amplitudes; a numba loop of a few µs)."""
        amps = harmonic_amplitudes(timbre, self.max_partials)
        self._n_env = 0
        if self.noise:
            env, amps = split_noise_floor(timbre, amps)
            if len(env):
                cfg = timbre.config
                w = analysis_window(cfg)
                # |X_m|^2 = sigma^2 * sum(w^2) for white noise of variance sigma^2 (PSD 2 sigma^2 / sr_m);
                # output bins of magnitude m give PSD 2 m^2 G^2 / (n_fft sr_o) (G: _random_phase_ola_gain).
                scale = math.sqrt(self.n_fft * self.sample_rate / (float(np.sum(w * w)) * cfg.sample_rate))
                self._noise_env[: len(env)] = env
                self._noise_scale = scale / self._noise_gain * math.sqrt(timbre.f_ref_hz)
                self._n_env = len(env)
        self._amp_target[:] = 0.0
        self._amp_target[: len(amps)] = amps
        self._n_partials = max(self._n_partials, len(amps))
        self._target_n_partials = len(amps)
        self._ramp_left = self._ramp_chunks
        self.timbre = timbre

    def start_voice(self, voice: int, f0_hz: float) -> None:
        """Reset slot `voice`: empty overlap-add buffers, fresh phase, a new frame-grid offset (staggering the
        voices' frame computations across chunks). Real-time safe: yes."""
        self._ola[voice].fill(0.0)
        self._norm[voice].fill(0.0)
        self._fresh[voice] = True
        self._pos[voice] = 0
        self._next_frame[voice] = 0
        steps = max(1, self.hop_length // self.chunk_size)
        self._frame_off[voice] = (self._starts % steps) * self.chunk_size
        self._starts += 1

    def render(self, f0_hz: np.ndarray, gain: np.ndarray, active: np.ndarray, out: np.ndarray) -> None:
        """Add the next chunk of all active voices into `out` (see VoiceRenderer.render).
        f0_hz: float32 [max_voices]; gain: float32 [max_voices, chunk_size]; active: bool [max_voices];
        out: float32 [chunk_size]. Real-time safe: yes (no allocation; the kernel releases the GIL)."""
        if self._ramp_left > 0:
            r = self._ramp_left
            cur, tgt = self._amp_cur, self._amp_target
            # cur += (tgt - cur) / r, in place without temporaries.
            np.subtract(tgt, cur, out=self._amp_next)
            self._amp_next *= np.float32(1.0 / r)
            cur += self._amp_next
            self._ramp_left = r - 1
            if self._ramp_left == 0:
                cur[:] = tgt
                self._n_partials = self._target_n_partials
        p = self._plan
        istft_render_kernel(
            self._amp_cur,
            self._n_partials,
            self._noise_env,
            self._n_env,
            self._noise_scale,
            f0_hz,
            gain,
            active,
            out,
            float(self.sample_rate),
            self.n_fft,
            self.hop_length,
            self.attack_length,
            self.lookahead,
            self.lam,
            self._log_tol,
            self._radius_bins,
            self._s3,
            self._phase_prev,
            self._tgrad_prev,
            self._fresh,
            self._pos,
            self._next_frame,
            self._frame_off,
            self._frame_f0,
            self._rng,
            self._ola,
            self._norm,
            self._win_out,
            self._win_norm,
            self._new_log,
            self._out_phase,
            self._out_tgrad,
            self._fgrad,
            self._heap_val,
            self._heap_idx,
            self._todo,
            self._spec_re,
            self._spec_im,
            self._y,
            p.bitrev,
            p.tw_re,
            p.tw_im,
            p.post_re,
            p.post_im,
            p.scratch_re,
            p.scratch_im,
        )
