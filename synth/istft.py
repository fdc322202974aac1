"""Inverse-STFT voice renderer: per voice, a re-pitched magnitude frame each hop, RTPGHI phase, irfft,
window, overlap-add.

Per voice and hop (all in one numba nogil kernel, nothing allocated):
  1. Magnitude. The timbre's whole spectrum is mapped to the note: its spectral peaks, wherever they lie
     (`istft_peaks.spectral_peaks`: local maxima above the frame's and the local floor's thresholds, exact
     hann-lobe interpolation of frequency and amplitude), each a frequency ratio r_j = f_j / f_ref
     (harmonic timbres: exactly k) and a sinusoid amplitude a_j, are redrawn on the output STFT grid at
     r_j * f_note, each as the main lobe of the output analysis window, a gaussian
     g(t) = exp(-pi t^2 / lambda):
       |X[b]| = a_j / 2 * sqrt(lambda) * exp(-pi lambda (b - q_j)^2 / n_fft^2),  q_j = r_j f_note n_fft / sr,
     so partials (harmonic, stiff-string, bell) land on r_j * f_note exactly whatever the timbre's own sample
     rate and n_fft, and the lobe is
     exactly what RTPGHI's phase-gradient model assumes (its log is a parabola, so the centred-difference
     instantaneous frequency of every bin of the lobe is the partial's frequency). Lobes are combined by
     max in the log domain (each bin follows its dominant partial). Partials at/above Nyquist are dropped,
     above NYQUIST_FADE_START * Nyquist faded with a raised cosine (as the oscbank does). While f0 moves
     (bend, vibrato) each lobe is that of a linear chirp (wider, lower; `istft_draw.draw_harmonics_kernel`).
     Noise: the timbre's floor between its partials (`istft_noise.split_noise_floor`: valley medians minus
     the peaks' window leakage; partial amplitudes keep only their power above it) is resampled to the
     note (f -> f * f_note / f_ref, power density / ratio so that its power is kept) and added with random
     phase each frame (`istft_draw.add_noise_kernel`): white noise of variance sigma^2 in the timbre plays
     as noise of PSD 2 sigma^2 / (sr_model * ratio) (tested within 1 dB). Clean timbres have no floor.
     Measured (tests): stiff-string partials (B = 0.002, k = 1..12) within 0.1 cent and 0.1 dB at MIDI
     45..81; a bar/bell ratio set (0.5, 1, 2.756, 5.404, 8.933) within 1 cent. Partials closer than ~6
     timbre bins read each other's leakage (a hum 5 bins from a 4x stronger fundamental: 6 cents off).
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
     Every size class has its own windows, gaussian lambda and FFT tables, preallocated.
  4. The voice's per-sample gain multiplies its overlap-added signal (envelope after synthesis).

Level scale: 1. A timbre partial of amplitude a (the timbre frame being what the model's STFT measures for a
sinusoid of amplitude a, the oscbank's convention) comes out as a sinusoid of amplitude a * gain (measured
within 1 dB in tests), so engine switches keep the level.

Timbre changes: the peaks live in a slot table (2 x max_partials slots, each a ratio and an amplitude).
A new timbre's peak takes the sounding slot whose ratio is within SLOT_MATCH_CENTS (amplitude and ratio
ramp linearly over `timbre_ramp_ms`), else a free slot (fading in from 0); slots left unmatched fade out.
On top, consecutive frames overlap by n_fft - hop samples, so any change is crossfaded by the overlap-add
(click-free, also between harmonic and inharmonic timbres: tested).

Latency. Note starts: 0 (heard from the next sample, at full level). Pitch/timbre changes: they enter the
next frame synthesised (within a hop), which with look-ahead is used one hop later (`latency_samples` =
lookahead * hop_length, the protocol's figure, with the largest hop); that frame's weight in the output is
centred a window's centre delay after it starts (`control_delay_for(f0_hz)` gives the total per pitch).
Measured against the oscbank on vibrato at 48 kHz: the istft output lags it by ~160 samples (3.3 ms) above
A3, ~500 around A2, ~570 at C2; ~1250 at n_fft 2048 with a symmetric hann (attack_length = n_fft/2).

FFT size per voice (default): chosen at note start from the pitch, the smallest of base/4 .. 2 base
(512..4096 at 48 kHz) that puts the partials MIN_SPACING_BINS apart (harmonics: f_note apart; a timbre
whose partials are closer, or lie below the fundamental, e.g. a bell's hum at f_note / 2, takes a longer
window by its `spacing_ratio`): bass notes get the long window they
need to resolve their partials (MIDI 36: -32 dB spectral convergence against the oscbank vs -22 dB at a
fixed 2048), high notes a short one that follows vibrato and reacts sooner (A4, 50-cent vibrato: -40 dB vs
-29 dB; ~160 samples of control delay instead of ~500). Measured in benchmarks/bench_istft.py.

Load: each voice computes one frame per hop; voices' frame grids are staggered by multiples of the chunk so
that, with hop = 4 chunks, a quarter of the voices do a frame in any given chunk.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from vaesynth.synth.istft_draw import add_noise_kernel, draw_harmonics_kernel, gaussian_window_circular
from vaesynth.synth.istft_noise import split_noise_floor
from vaesynth.synth.istft_peaks import spectral_peaks
from vaesynth.synth.nbfft import IrfftPlan, irfft_kernel
from vaesynth.synth.oscbank import MAX_PARTIALS
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
    scratch,
    heap_idx,
    todo,
    y,
    bitrev,
    tw_re,
    tw_im,
    post_re,
    post_im,
):
    """Phase (RTPGHI) + irfft + overlap-add of one voice's frame whose log-magnitudes are s3 [3, n_bins]
    (prev, cur, next). All arrays are that voice's / that size's views; scratch: float64 [7, >= n_bins]."""
    m = s3.shape[1]
    out_phase = scratch[0, :m]
    out_tgrad = scratch[1, :m]
    fgrad = scratch[2, :m]
    spec_re = scratch[3, :m]
    spec_im = scratch[4, :m]
    heap_val = scratch[5]
    z_re = scratch[6, : n_fft // 2]
    z_im = y[n_fft : n_fft + n_fft // 2]
    if fresh:
        # Note onset: pretend the frame before was the same spectrum with zero phase.
        peak = -1e300
        for b in range(m):
            peak = max(peak, s3[1, b])
        tgrad_kernel(s3[1], n_fft, lam, max(peak + log_tol, -700.0), tgrad_prev)
        for b in range(m):
            phase_prev[b] = 0.0
    if extrapolate:
        # Onset frames after the first: the same magnitude as the frame before (one render call, one pitch),
        # so RTPGHI would integrate every bin in time with d phi/dt unchanged: do just that, without the heap.
        for b in range(m):
            out_tgrad[b] = tgrad_prev[b]
            out_phase[b] = phase_prev[b] + hop * tgrad_prev[b]
    else:
        rtpghi_frame_kernel(
            s3[0],
            s3[1],
            s3[2],
            lookahead == 1,
            phase_prev,
            tgrad_prev,
            hop,
            n_fft,
            lam,
            log_tol,
            rng,
            out_phase,
            out_tgrad,
            fgrad,
            heap_val,
            heap_idx,
            todo,
        )
    for b in range(m):
        phase_prev[b] = out_phase[b]
        tgrad_prev[b] = out_tgrad[b]
        s = s3[1, b]
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
    add_noise_kernel(noise_env, n_env, noise_scale, f0_hz, sample_rate, n_fft, rng, spec_re, spec_im)
    irfft_kernel(spec_re, spec_im, y, bitrev, tw_re, tw_im, post_re, post_im, z_re, z_im)
    mask = ola.shape[0] - 1
    for n in range(first, n_fft):
        t = frame_start + n
        if t < 0:
            continue  # before the note: never read
        i = t & mask
        ola[i] += y[n] * win_out[n]
        norm[i] += win_norm[n]


@numba.njit(nogil=True, cache=True)
def istft_render_kernel(
    amps,
    ratios,
    n_partials,
    noise_env,
    n_env,
    noise_scale,
    f0_hz,
    gain,
    active,
    out,
    sample_rate,
    lookahead,
    log_tol,
    size,
    n_ffts,
    hops,
    attacks,
    lams,
    radii,
    noise_factors,
    win_out,
    win_norm,
    bitrev,
    tw_re,
    tw_im,
    post_re,
    post_im,
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
    new_log,
    scratch,
    heap_idx,
    todo,
    y,
):
    """Add one chunk of all active voices into out (see IstftRenderer.render). Voice v uses FFT size class
    size[v] (n_ffts/hops/attacks/lams/radii/noise_factors and the table rows of that index).
    Real-time safe: yes."""
    chunk = out.shape[0]
    for v in range(f0_hz.shape[0]):
        if not active[v]:
            continue
        z = size[v]
        n_fft = n_ffts[z]
        hop = hops[z]
        attack = attacks[z]
        half = n_fft // 2
        m = half + 1
        lam = lams[z]
        s3v = s3[v, :, :m]
        p0 = pos[v]
        onset = fresh[v]
        n_done = 0
        # Synthesize every frame whose first nonzero sample falls before the end of this chunk.
        while True:
            centre = next_frame[v] * hop - frame_off[v]
            if centre - attack >= p0 + chunk:
                break
            f0 = float(f0_hz[v])
            rate = 0.0 if fresh[v] else (f0 - frame_f0[v]) / hop
            frame_f0[v] = f0
            nl = new_log[:m]
            draw_harmonics_kernel(amps, ratios, n_partials, f0, rate, sample_rate, n_fft, lam, radii[z], nl)
            if fresh[v]:
                for r in range(3):
                    for b in range(m):
                        s3v[r, b] = nl[b]
            elif lookahead == 1:
                for b in range(m):
                    s3v[0, b] = s3v[1, b]
                    s3v[1, b] = s3v[2, b]
                    s3v[2, b] = nl[b]
            else:
                for b in range(m):
                    s3v[0, b] = s3v[1, b]
                    s3v[1, b] = nl[b]
            extrapolate = onset and n_done > 0
            _synth_frame(
                s3v,
                phase_prev[v, :m],
                tgrad_prev[v, :m],
                fresh[v],
                extrapolate,
                lookahead,
                hop,
                n_fft,
                lam,
                log_tol,
                rng[v],
                centre - half,
                half - attack,
                noise_env,
                n_env,
                noise_scale * noise_factors[z],
                f0,
                sample_rate,
                ola[v],
                norm[v],
                win_out[z, :n_fft],
                win_norm[z, :n_fft],
                scratch,
                heap_idx,
                todo[:m],
                y,
                bitrev[z, :half],
                tw_re[z, : max(half - 1, 1)],
                tw_im[z, : max(half - 1, 1)],
                post_re[z, :half],
                post_im[z, :half],
            )
            fresh[v] = False
            next_frame[v] += 1
            n_done += 1
        mask = ola.shape[1] - 1
        for n in range(chunk):
            i = (p0 + n) & mask
            w = norm[v, i]
            if w > 1e-9:
                out[n] += np.float32(ola[v, i] / w) * gain[v, n]
            ola[v, i] = 0.0
            norm[v, i] = 0.0
        pos[v] = p0 + chunk


# A new timbre's peak takes over a sounding slot within this many cents (ratio and amplitude glide over the
# timbre ramp); farther, the old partial fades out and the new one fades in.
SLOT_MATCH_CENTS = 30.0


@numba.njit(nogil=True, cache=True)
def _assign_slots_kernel(ratios, amps, max_log_dist, amp_cur, amp_target, ratio_cur, ratio_target, claimed):
    """Put a timbre's peaks (ratios float64 [n], amps float32 [n], strongest first) into the slot table.

    A slot sounds if amp_cur or amp_target > 0. Each peak takes the unclaimed sounding slot of nearest
    target ratio within max_log_dist (natural log of the ratio): amplitude and ratio targets set, both ramp
    from where they are. Otherwise it takes a free slot, ratio set at once, amplitude from 0 (fade in). If
    no slot is free the (weakest remaining) peaks are dropped. Every unclaimed slot fades out (target 0).
    Returns the number of slots to draw (highest sounding index + 1)."""
    n_slots = amp_cur.shape[0]
    for s in range(n_slots):
        claimed[s] = False
    for j in range(ratios.shape[0]):
        r = ratios[j]
        if not (r > 0.0) or not (amps[j] > 0.0):
            continue
        lr = math.log(r)
        best = -1
        best_d = max_log_dist
        for s in range(n_slots):
            if claimed[s] or not (amp_cur[s] > 0.0 or amp_target[s] > 0.0):
                continue
            d = abs(math.log(ratio_target[s]) - lr)
            if d <= best_d:
                best, best_d = s, d
        if best < 0:
            for s in range(n_slots):
                if not claimed[s] and not (amp_cur[s] > 0.0 or amp_target[s] > 0.0):
                    best = s
                    ratio_cur[s] = r
                    amp_cur[s] = 0.0
                    break
        if best < 0:
            continue
        claimed[best] = True
        ratio_target[best] = r
        amp_target[best] = amps[j]
    n_draw = 0
    for s in range(n_slots):
        if not claimed[s]:
            amp_target[s] = 0.0
        if amp_cur[s] > 0.0 or amp_target[s] > 0.0:
            n_draw = s + 1
    return n_draw


def _spacing_ratio(ratios: np.ndarray, amps: np.ndarray) -> float:
    """min(1, lowest ratio, closest gap between ratios) over the partials within SPACING_RANGE_DB of the
    strongest: the frequency resolution (in units of f_note) a voice's window needs for this timbre."""
    if len(amps) == 0 or not float(np.max(amps)) > 0:
        return 1.0
    r = np.sort(ratios[amps >= float(np.max(amps)) * 10 ** (-SPACING_RANGE_DB / 20)])
    gaps = np.diff(np.concatenate(([0.0], r)))
    return float(min(1.0, gaps.min()))


# Adaptive FFT size: each voice takes the smallest size whose bins put its partials at least this many bins
# apart (resolved gaussian lobes); smaller windows follow vibrato better and react sooner.
MIN_SPACING_BINS = 4.5
# Partials weaker than this below the strongest do not make the window longer.
SPACING_RANGE_DB = 60.0


class IstftRenderer:
    """VoiceRenderer (synth/protocol.py): inverse STFT with RTPGHI phase.

    sample_rate: output Hz (22050..96000). max_voices: slots. n_fft: FFT size (power of two) for every
    voice; default None = per voice, from its pitch at note start: the smallest of n_fft_sizes (default
    base/4 .. 2 base, base = `default_n_fft(sample_rate)`: 512..4096 at 48 kHz) that puts the timbre's
    partials MIN_SPACING_BINS apart. hop_length: the largest hop (default base/8: 256 at 48 kHz); a size uses
    min(hop_length, its n_fft/4). lookahead: 0 or 1 hop for RTPGHI's time derivative. chunk_size: samples
    per `render` (any value). timbre_ramp_ms: time a new timbre's amplitudes take to settle. tol: RTPGHI's
    relative tolerance. max_partials: spectral peaks kept from a timbre (strongest first).
    attack_length: rise of the synthesis window before each frame's centre (default n_fft/8 of each size;
    n_fft/2 = symmetric hann).
    noise: render the timbre's floor between its partials as noise (else partials only, like the oscbank).
    latency_samples = lookahead * hop_length (the largest hop); centre_delay_samples: that of the base size
    (see the module docstring); n_fft_sizes, hop_lengths: per size class. spacing_ratio: the current
    timbre's closest partial spacing / f_ref (at most 1), used by the per-voice FFT size.
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
        n_fft_sizes: tuple[int, ...] | None = None,
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
        base = int(n_fft) if n_fft is not None else default_n_fft(self.sample_rate)
        if n_fft_sizes is not None:
            sizes = sorted(int(x) for x in n_fft_sizes)
        elif n_fft is not None:
            sizes = [base]
        else:
            sizes = [base // 4, base // 2, base, base * 2]
        for size in sizes:
            if size < 64 or size & (size - 1):
                raise ValueError(f"n_fft must be a power of two >= 64, got {size}")
        self.n_fft = base
        self.n_fft_sizes = tuple(sizes)
        self.hop_length = int(hop_length) if hop_length is not None else base // 8
        if not (1 <= self.hop_length <= max(sizes) // 4):
            raise ValueError(f"hop_length must be in 1..n_fft/4 = {max(sizes) // 4}, got {self.hop_length}")
        self.hop_lengths = tuple(min(self.hop_length, size // 4) for size in sizes)
        self.lookahead = int(lookahead)
        self.latency_samples = self.lookahead * max(self.hop_lengths)
        if attack_length is not None and not (1 <= int(attack_length) <= min(sizes) // 2):
            raise ValueError(f"attack_length must be in 1..n_fft/2 = {min(sizes) // 2}, got {attack_length}")
        attacks = [int(attack_length) if attack_length is not None else size // 8 for size in sizes]
        self.attack_length = attacks[sizes.index(base)] if base in sizes else attacks[-1]
        self.max_partials = int(max_partials)
        self._ramp_chunks = max(1, int(math.ceil(timbre_ramp_ms * 1e-3 * self.sample_rate / self.chunk_size)))
        self._log_tol = float(np.log(tol))

        n_max = max(sizes)
        nz, m, v = len(sizes), n_max // 2 + 1, self.max_voices
        self._n_ffts = np.array(sizes, dtype=np.int64)
        self._hops = np.array(self.hop_lengths, dtype=np.int64)
        self._attacks = np.array(attacks, dtype=np.int64)
        self._lams = np.zeros(nz)
        self._radii = np.zeros(nz)
        self._noise_factors = np.zeros(nz)
        self._win_out = np.zeros((nz, n_max))
        self._win_norm = np.zeros((nz, n_max))
        half_max = n_max // 2
        self._bitrev = np.zeros((nz, half_max), dtype=np.int64)
        self._tw_re = np.zeros((nz, max(half_max - 1, 1)))
        self._tw_im = np.zeros((nz, max(half_max - 1, 1)))
        self._post_re = np.zeros((nz, half_max))
        self._post_im = np.zeros((nz, half_max))
        self.centre_delays = []
        for z, (size, hop, attack) in enumerate(zip(sizes, self.hop_lengths, attacks, strict=True)):
            win_hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(size) / size)
            # Output "analysis" window: the gaussian matched to a hann of the same length.
            lam = gaussian_lambda(win_hann)
            g = gaussian_window_circular(size, lam)
            w_out = synthesis_window(size, attack)
            self._lams[z] = lam
            # Lobe drawn down to the tolerance (below it RTPGHI ignores the bins anyway).
            self._radii[z] = math.sqrt(-math.log(tol * 0.1) * size * size / (math.pi * lam))
            self._win_out[z, :size] = w_out
            self._win_norm[z, :size] = w_out * g
            # Noise: output bins of magnitude m give PSD 2 m^2 G^2 / (n_fft sr_o) (G: the OLA gain).
            self._noise_factors[z] = math.sqrt(size) / _random_phase_ola_gain(w_out, g, hop)
            plan = IrfftPlan(size)
            h = size // 2
            self._bitrev[z, :h] = plan.bitrev
            self._tw_re[z, : len(plan.tw_re)] = plan.tw_re
            self._tw_im[z, : len(plan.tw_im)] = plan.tw_im
            self._post_re[z, :h] = plan.post_re
            self._post_im[z, :h] = plan.post_im
            self.centre_delays.append(control_delay(w_out * g, attack))
        zb = sizes.index(base) if base in sizes else nz - 1
        self.lam = float(self._lams[zb])
        self.centre_delay_samples = self.centre_delays[zb]

        self._size = np.full(v, zb, dtype=np.int64)
        self._s3 = np.full((v, 3, m), LOG_FLOOR)
        self._phase_prev = np.zeros((v, m))
        self._tgrad_prev = np.zeros((v, m))
        self._fresh = np.ones(v, dtype=np.bool_)
        self._pos = np.zeros(v, dtype=np.int64)
        self._next_frame = np.zeros(v, dtype=np.int64)
        self._frame_f0 = np.zeros(v)  # f0 of each voice's latest frame (its chirp rate is the change)
        self._frame_off = np.zeros(v, dtype=np.int64)
        self._rng = (np.arange(1, v + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)).reshape(v, 1)
        buf = 1 << int(math.ceil(math.log2(2 * n_max + self.chunk_size)))
        self._ola = np.zeros((v, buf))
        self._norm = np.zeros((v, buf))
        self._new_log = np.zeros(m)
        self._scratch = np.zeros((7, 2 * m))
        self._heap_idx = np.zeros(2 * m, dtype=np.int64)
        self._todo = np.zeros(m, dtype=np.bool_)
        self._y = np.zeros(n_max + n_max // 2)

        # Noise floor (residual between harmonics), see set_timbre / add_noise_kernel.
        self.noise = bool(noise)
        self._noise_env = np.zeros(self.max_partials + 1, np.float32)
        self._n_env = 0
        self._noise_scale = 0.0
        # Partial slot table (see set_timbre): 2 x max_partials slots, so that a timbre's partials can fade in
        # while the previous timbre's fade out.
        n_slots = 2 * self.max_partials
        self._amp_cur = np.zeros(n_slots, np.float32)
        self._amp_next = np.zeros(n_slots, np.float32)
        self._amp_target = np.zeros(n_slots, np.float32)
        self._ratio_cur = np.ones(n_slots)
        self._ratio_target = np.ones(n_slots)
        self._ratio_step = np.zeros(n_slots)
        self._slot_claimed = np.zeros(n_slots, np.bool_)
        self._n_partials = 0
        self._target_n_partials = 0
        self._ramp_left = 0
        self._starts = 0
        # Closest spacing of the timbre's partials (and of the lowest from DC), as a ratio of f_ref.
        self.spacing_ratio = 1.0
        self.timbre: Timbre | None = None

    def n_fft_for(self, f0_hz: float) -> int:
        """FFT size a voice starting at f0_hz uses: the smallest size that puts the current timbre's partials
        at least MIN_SPACING_BINS bins apart (harmonic timbres: f0_hz apart; see `spacing_ratio`), the
        largest if none does."""
        return int(self._n_ffts[self._size_index(f0_hz)])

    def control_delay_for(self, f0_hz: float) -> int:
        """Samples from a pitch/timbre change to the centre of its weight in the output, for a voice started
        at f0_hz: look-ahead x its hop + its window's centre delay (+ up to a hop waiting for the frame)."""
        z = self._size_index(f0_hz)
        return self.lookahead * self.hop_lengths[z] + self.centre_delays[z]

    def _size_index(self, f0_hz: float) -> int:
        for z, size in enumerate(self.n_fft_sizes):
            if f0_hz * self.spacing_ratio * size / self.sample_rate >= MIN_SPACING_BINS:
                return z
        return len(self.n_fft_sizes) - 1

    def set_timbre(self, timbre: Timbre) -> None:
        """New target timbre. Its spectral peaks (`istft_peaks.spectral_peaks`: wherever they lie, as ratios
        r_j = f_j / f_ref) go into the slot table: a peak within SLOT_MATCH_CENTS of a sounding slot's ratio
        takes that slot (amplitude and ratio ramp to the new values), the others take free slots and fade in
        from zero, and slots left unmatched fade out; all over timbre_ramp_ms. Real-time safe: no (small
        allocations; numba loops, ~100 µs)."""
        ratios, amps = spectral_peaks(timbre, self.max_partials)
        self._n_env = 0
        if self.noise:
            cfg = timbre.config
            n_harmonics = int(
                min(self.max_partials, math.floor((cfg.sample_rate / 2 - 1e-9) / timbre.f_ref_hz))
            )
            env, amps = split_noise_floor(timbre, amps, ratios, max_env=n_harmonics + 1)
            if len(env):
                w = analysis_window(cfg)
                # |X_m|^2 = sigma^2 * sum(w^2) for white noise of variance sigma^2 (PSD 2 sigma^2 / sr_m);
                # the size-dependent factor sqrt(n_fft) / G is applied per voice (_noise_factors).
                scale = math.sqrt(self.sample_rate / (float(np.sum(w * w)) * cfg.sample_rate))
                self._noise_env[: len(env)] = env
                self._noise_scale = scale * math.sqrt(timbre.f_ref_hz)
                self._n_env = len(env)
        self._n_partials = _assign_slots_kernel(
            np.ascontiguousarray(ratios, np.float64),
            np.ascontiguousarray(amps, np.float32),
            math.log(2.0) * SLOT_MATCH_CENTS / 1200.0,
            self._amp_cur,
            self._amp_target,
            self._ratio_cur,
            self._ratio_target,
            self._slot_claimed,
        )
        self._target_n_partials = 0
        for j in range(len(self._amp_target) - 1, -1, -1):
            if self._amp_target[j] > 0:
                self._target_n_partials = j + 1
                break
        self._ramp_left = self._ramp_chunks
        self.spacing_ratio = _spacing_ratio(ratios, amps)
        self.timbre = timbre

    def start_voice(self, voice: int, f0_hz: float) -> None:
        """Reset slot `voice`: FFT size for its pitch, empty overlap-add buffers, fresh phase, a new
        frame-grid offset (staggering the voices' frame computations across chunks). Real-time safe: yes."""
        z = self._size_index(float(f0_hz))
        self._size[voice] = z
        self._ola[voice].fill(0.0)
        self._norm[voice].fill(0.0)
        self._fresh[voice] = True
        self._pos[voice] = 0
        self._next_frame[voice] = 0
        hop = self.hop_lengths[z]
        steps = max(1, hop // self.chunk_size)
        self._frame_off[voice] = (self._starts % steps) * self.chunk_size
        self._starts += 1

    def render(self, f0_hz: np.ndarray, gain: np.ndarray, active: np.ndarray, out: np.ndarray) -> None:
        """Add the next chunk of all active voices into `out` (see VoiceRenderer.render).
        f0_hz: float32 [max_voices]; gain: float32 [max_voices, chunk_size]; active: bool [max_voices];
        out: float32 [chunk_size]. Real-time safe: yes (no allocation; the kernel releases the GIL)."""
        self._advance_timbre_ramp()
        istft_render_kernel(
            self._amp_cur,
            self._ratio_cur,
            self._n_partials,
            self._noise_env,
            self._n_env,
            self._noise_scale,
            f0_hz,
            gain,
            active,
            out,
            float(self.sample_rate),
            self.lookahead,
            self._log_tol,
            self._size,
            self._n_ffts,
            self._hops,
            self._attacks,
            self._lams,
            self._radii,
            self._noise_factors,
            self._win_out,
            self._win_norm,
            self._bitrev,
            self._tw_re,
            self._tw_im,
            self._post_re,
            self._post_im,
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
            self._new_log,
            self._scratch,
            self._heap_idx,
            self._todo,
            self._y,
        )

    def _advance_timbre_ramp(self) -> None:
        """One chunk's step of the slots' amplitudes and ratios toward the target timbre (called once per
        `render`). Real-time safe: yes (in place)."""
        if self._ramp_left > 0:
            r = self._ramp_left
            cur, tgt = self._amp_cur, self._amp_target
            # cur += (tgt - cur) / r, in place without temporaries.
            np.subtract(tgt, cur, out=self._amp_next)
            self._amp_next *= np.float32(1.0 / r)
            cur += self._amp_next
            np.subtract(self._ratio_target, self._ratio_cur, out=self._ratio_step)
            self._ratio_step *= 1.0 / r
            self._ratio_cur += self._ratio_step
            self._ramp_left = r - 1
            if self._ramp_left == 0:
                cur[:] = tgt
                self._ratio_cur[:] = self._ratio_target
                self._n_partials = self._target_n_partials
