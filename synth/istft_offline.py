"""Higher-quality OFFLINE phase for the istft engine: the live engine's magnitude frames, phase by fast
Griffin-Lim (FGLA) started from RTPGHI, synthesised with the live overlap-add convention.

Two passes through the real engine (same messages, voices, envelopes, timbre ramps, pitch, engine switches,
output gain and limiter), `render_messages_fgla`:
  1. Capture. `IstftCaptureRenderer` stands in for the istft renderer. Per note (every `start_voice`) it
     records exactly what `istft_render_kernel` would draw: the same frame schedule (frame k centred at
     k * hop - frame_offset samples after the note start, drawn once its window's first nonzero sample is
     due), the same log-magnitude frame (`draw_harmonics_kernel` with the ramped amplitudes, pitch and
     chirp rate of that moment), the pitch and noise-floor state of each frame (and, for measurements,
     the per-sample gain).
     It writes no audio.
  2. Reconstruction, per note (`reconstruct_note`): the frames placed where the live engine places them
     (with one hop of look-ahead, frame k carries the magnitude drawn at k - 1) are the target |X_k| on the
     note's STFT grid (analysis window: the gaussian the lobes are drawn for). Phase: offline RTPGHI
     (`synth.rtpghi.rtpghi`, the same algorithm as the live kernel), then `n_iter` FGLA iterations
     (Perraudin et al. 2013, alpha 0.99) on that grid: c_n = STFT(ISTFT_ls(|X| e^{i angle t})),
     t_n = c_n + alpha (c_n - c_{n-1}). The note is then synthesised like the live kernel: per frame
     |X_k| e^{i phi_k} plus the timbre's noise floor with random phase (`add_noise_kernel`, as live),
     irfft, times the asymmetric synthesis window, overlap-added and normalised by the window products
     actually summed, from the note's first sample to its last. `synth.griffinlim.fgla` is not reused
     because it works on `synth.spectral`'s grid (frames centred at t * hop from sample 0, a scipy
     window); the note grids here start at -frame_offset and use the drawn gaussian.
  3. Playback. A second fresh engine gets the same messages with `IstftPlaybackRenderer`, which plays each
     note's reconstructed (pre-gain) signal, note by note in `start_voice` order, times the voice's
     per-sample gain of that pass. The engine's crossfades, output gain and soft clipper apply as usual,
     so the output is finite and within [-1, 1].
The control path being deterministic, the playback pass starts the same notes in the same order at the
same pitches (checked: RuntimeError if not).

Notes are reconstructed as soon as they end (voice idle or slot restarted), so the capture holds only the
sounding notes' frames (~16 bytes per sample and voice at n_fft 2048, hop 256); the playback holds each
note's signal (float32).

What it buys. RTPGHI's phase is right where its model holds (stationary or linear-chirp partials), but
while the pitch moves fast its frames stop being mutually consistent and the overlap-added output's STFT
departs from the frames drawn; FGLA moves towards the nearest consistent phase. Spectral convergence of the
rendered note to the drawn frames (22.05 kHz, A3, n_fft 512, hop 128; tests/synth/test_istft_offline.py):
steady -35.5 dB live vs -35.3 dB FGLA (both at the floor set by the drawn frames' own inconsistency: a
gaussian lobe is not exactly what a gaussian window truncated to n_fft measures), 100-cent 6 Hz vibrato
-30.7 vs -32.0 dB, 300-cent 8 Hz vibrato -21.7 vs -26.0 dB. Offline RTPGHI alone on the captured frames
reproduces the live figure within 0.1 dB (the capture is faithful). Cost: benchmarks/bench_render_phase.py.

Real-time safe: no (offline only; the live renderer's behaviour and its kernel are unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
import scipy.fft

from vaesynth.synth.config import SpectralConfig
from vaesynth.synth.istft import IstftRenderer
from vaesynth.synth.istft_draw import add_noise_kernel, draw_harmonics_kernel, gaussian_window_circular
from vaesynth.synth.rtpghi import LOG_FLOOR, rtpghi

DEFAULT_FGLA_ITERATIONS = 32
FGLA_ALPHA = 0.99


@dataclass
class CapturedNote:
    """One note as the istft renderer drew it.

    slot: voice slot. f0_start_hz: pitch at start_voice. size_index: the renderer's FFT size class.
    frame_offset: samples the note's frame grid is shifted by (frame k centred at k * hop - frame_offset).
    start_sample: the capture renderer's rendered-sample count at note start (the engine's sample time
    when the renderer rendered every chunk). n_samples: samples rendered. Recorded per frame (lists, emptied
    once the note is reconstructed unless keep_frames): drawn (log-magnitudes [n_bins] in draw order),
    frame_f0 (Hz), noise_ver (index into the renderer's noise snapshots); per chunk: gains. As arrays:
    drawn_log float32 [n_frames, n_bins], frame_f0_hz, noise_version, gain float32 [n_samples].
    """

    slot: int
    f0_start_hz: float
    size_index: int
    frame_offset: int
    start_sample: int
    drawn: list = field(default_factory=list)
    frame_f0: list = field(default_factory=list)
    noise_ver: list = field(default_factory=list)
    gains: list = field(default_factory=list)
    n_samples: int = 0

    @property
    def drawn_log(self) -> np.ndarray:
        return np.array(self.drawn, dtype=np.float32).reshape(len(self.drawn), -1)

    @property
    def frame_f0_hz(self) -> np.ndarray:
        return np.array(self.frame_f0, dtype=np.float64)

    @property
    def noise_version(self) -> np.ndarray:
        return np.array(self.noise_ver, dtype=np.int64)

    @property
    def gain(self) -> np.ndarray:
        return np.concatenate(self.gains) if self.gains else np.zeros(0, np.float32)


class IstftCaptureRenderer(IstftRenderer):
    """IstftRenderer that records every note's frames instead of synthesising them (writes no audio).

    Same arguments as IstftRenderer, plus n_iter: None records only; an int reconstructs each note
    (`reconstruct_note` with n_iter FGLA iterations) as soon as it ends (its voice goes idle or its slot is
    restarted), so memory holds the sounding notes' frames only; `finish()` does the rest. keep_frames:
    keep each note's frames and gains after reconstruction (tests, measurements); False frees them.
    notes: list[CapturedNote] in start order. noise_snapshots: list of (noise_env float32, n_env,
    noise_scale), one per set_timbre. Real-time safe: no (offline capture).
    """

    def __init__(self, *args, n_iter: int | None = None, keep_frames: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.n_iter = n_iter
        self.keep_frames = bool(keep_frames)
        self.notes: list[CapturedNote] = []
        self.reconstructions: list[NoteReconstruction | None] = []
        self.noise_snapshots: list[tuple[np.ndarray, int, float]] = [(self._noise_env.copy(), 0, 0.0)]
        self._note_of_slot = [-1] * self.max_voices
        self._samples = 0

    def finish(self) -> list[NoteReconstruction]:
        """Reconstruct every note not yet done (n_iter must be set); returns all, in start order."""
        if self.n_iter is None:
            raise ValueError("finish() needs n_iter")
        for i in range(len(self.notes)):
            self._finish_note(i)
        return list(self.reconstructions)

    def _finish_note(self, i: int) -> None:
        if self.n_iter is None or self.reconstructions[i] is not None:
            return
        note = self.notes[i]
        rec = reconstruct_note(self, note, self.n_iter)
        rec.signal = rec.signal.astype(np.float32)
        if not self.keep_frames:
            note.drawn, note.frame_f0, note.noise_ver, note.gains = [], [], [], []
            rec.target = rec.target[:0]
        self.reconstructions[i] = rec

    def set_timbre(self, timbre) -> None:
        super().set_timbre(timbre)
        self.noise_snapshots.append((self._noise_env.copy(), int(self._n_env), float(self._noise_scale)))

    def start_voice(self, voice: int, f0_hz: float) -> None:
        if self._note_of_slot[voice] >= 0:
            self._finish_note(self._note_of_slot[voice])
        super().start_voice(voice, f0_hz)
        self._note_of_slot[voice] = len(self.notes)
        self.reconstructions.append(None)
        self.notes.append(
            CapturedNote(
                slot=int(voice),
                f0_start_hz=float(f0_hz),
                size_index=int(self._size[voice]),
                frame_offset=int(self._frame_off[voice]),
                start_sample=self._samples,
            )
        )

    def render(self, f0_hz: np.ndarray, gain: np.ndarray, active: np.ndarray, out: np.ndarray) -> None:
        """Record the frames `istft_render_kernel` would synthesise in this chunk (same schedule and drawing);
        `out` is left untouched."""
        self._advance_timbre_ramp()
        chunk = out.shape[0]
        ver = len(self.noise_snapshots) - 1
        for v in range(f0_hz.shape[0]):
            if self._note_of_slot[v] < 0:
                continue
            if not active[v]:
                # Idle: the note is over (a slot only sounds again through start_voice).
                self._finish_note(self._note_of_slot[v])
                self._note_of_slot[v] = -1
                continue
            note = self.notes[self._note_of_slot[v]]
            z = int(self._size[v])
            n_fft, hop, attack = int(self._n_ffts[z]), int(self._hops[z]), int(self._attacks[z])
            nl = self._new_log[: n_fft // 2 + 1]
            p0 = int(self._pos[v])
            while self._next_frame[v] * hop - self._frame_off[v] - attack < p0 + chunk:
                f0 = float(f0_hz[v])
                rate = 0.0 if self._fresh[v] else (f0 - self._frame_f0[v]) / hop
                self._frame_f0[v] = f0
                draw_harmonics_kernel(
                    self._amp_cur,
                    self._ratio_cur,
                    self._n_partials,
                    f0,
                    rate,
                    float(self.sample_rate),
                    n_fft,
                    float(self._lams[z]),
                    float(self._radii[z]),
                    nl,
                )
                note.drawn.append(nl.astype(np.float32))
                note.frame_f0.append(f0)
                note.noise_ver.append(ver)
                self._fresh[v] = False
                self._next_frame[v] += 1
            if self.keep_frames:
                note.gains.append(np.array(gain[v, :chunk], dtype=np.float32))
            note.n_samples += chunk
            self._pos[v] = p0 + chunk
        self._samples += chunk


@dataclass
class NoteReconstruction:
    """signal: float64 [n_samples] the note before its gain (sample 0 = note start). target: float64
    [n_frames, n_bins] the magnitudes placed on the grid; centres: int [n_frames] frame centres (samples
    from the note start); window: float64 [n_fft] the analysis window (gaussian) of the target."""

    signal: np.ndarray
    target: np.ndarray
    centres: np.ndarray
    window: np.ndarray


def note_grid(renderer: IstftRenderer, note: CapturedNote) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(target magnitudes [n_frames, n_bins] as the live kernel places them, centres [n_frames] in samples
    from the note start, n_fft, hop) for a captured note."""
    z = note.size_index
    n_fft, hop = int(renderer._n_ffts[z]), int(renderer._hops[z])
    drawn = note.drawn_log.astype(np.float64)
    k = np.arange(len(drawn))
    # With look-ahead the frame synthesised at grid position k is the one drawn a hop earlier.
    placed = drawn[np.maximum(k - renderer.lookahead, 0)]
    mags = np.where(placed > LOG_FLOOR + 1.0, np.exp(placed), 0.0)
    centres = k * hop - note.frame_offset
    return mags, centres, n_fft, hop


def _stft_grid(x: np.ndarray, window: np.ndarray, hop: int, n_frames: int) -> np.ndarray:
    """Frames k = x[k hop : k hop + n_fft] * window -> rfft (origin at each frame's first sample)."""
    frames = np.lib.stride_tricks.sliding_window_view(x, len(window))[::hop][:n_frames]
    return scipy.fft.rfft(frames * window, axis=-1)  # scipy: ~4x numpy's for float32 here


def _overlap_add(frames: np.ndarray, hop: int) -> np.ndarray:
    """Sum of frames [n_frames, n_fft] placed at k * hop: [(n_frames - 1) * hop + n_fft]. n_fft must be a
    multiple of hop (true of every istft size class); one vectorised add per hop-block of the frame."""
    n_frames, n_fft = frames.shape
    r = n_fft // hop
    blocks = frames.reshape(n_frames, r, hop)
    out = np.zeros((n_frames + r - 1, hop), dtype=frames.dtype)
    for i in range(r):
        out[i : i + n_frames] += blocks[:, i, :]
    return out.reshape(-1)


def fgla_grid(
    mags: np.ndarray,
    init_phase: np.ndarray,
    window: np.ndarray,
    hop: int,
    n_iter: int,
    alpha: float = FGLA_ALPHA,
) -> np.ndarray:
    """Fast Griffin-Lim on a grid of frames k * hop (window [n_fft], frames' origin at their first sample;
    n_fft a multiple of hop). Projections: magnitude (keep the phase, impose mags) and consistency
    (STFT of the least-squares ISTFT). Computed in single precision (the iterations' own error is far
    below the -20..-40 dB convergence they reach).

    mags: [n_frames, n_bins] linear; init_phase: same shape, radians. n_iter >= 0; alpha: inertia.
    Returns float64 phases [n_frames, n_bins]. Real-time safe: no."""
    n_frames, n_fft = mags.shape[0], len(window)
    if n_fft % hop:
        raise ValueError(f"n_fft {n_fft} must be a multiple of hop {hop}")
    if n_iter == 0 or n_frames == 0:
        return np.asarray(init_phase, dtype=np.float64)
    win = window.astype(np.float32)
    wsq = _overlap_add(np.broadcast_to(win * win, (n_frames, n_fft)), hop)
    # The gaussian's far tails: never divide by ~0 (those samples are outside every frame's support).
    inv_wsq = 1.0 / np.maximum(wsq, np.float32(1e-3) * float(np.max(win * win)))
    m32 = mags.astype(np.float32)
    t = (mags * np.exp(1j * init_phase)).astype(np.complex64)
    c_prev = t
    tiny = np.float32(1e-30)
    for _ in range(n_iter):
        scale = np.abs(t)
        np.maximum(scale, tiny, out=scale)
        np.divide(m32, scale, out=scale)
        t *= scale  # P_mag: |X| imposed, phase kept
        frames = scipy.fft.irfft(t, n=n_fft, axis=-1).astype(np.float32, copy=False)
        frames *= win
        x = _overlap_add(frames, hop) * inv_wsq  # least-squares ISTFT
        c = _stft_grid(x, win, hop, n_frames).astype(np.complex64, copy=False)  # P_stft
        t = c * np.float32(1 + alpha)
        t -= c_prev * np.float32(alpha)
        c_prev = c
    return np.angle(c_prev).astype(np.float64)


def reconstruct_note(
    renderer: IstftCaptureRenderer, note: CapturedNote, n_iter: int = DEFAULT_FGLA_ITERATIONS, seed: int = 1
) -> NoteReconstruction:
    """A captured note's pre-gain signal: RTPGHI-initialised FGLA phase, the live synthesis convention
    (asymmetric synthesis window, normalised overlap-add, noise floor with random phase).
    n_iter = 0: offline RTPGHI alone. Real-time safe: no."""
    mags, centres, n_fft, hop = note_grid(renderer, note)
    z = note.size_index
    lam = float(renderer._lams[z])
    g = gaussian_window_circular(n_fft, lam)
    if len(mags) == 0:
        return NoteReconstruction(np.zeros(note.n_samples), mags, centres, g)
    config = SpectralConfig(sample_rate=renderer.sample_rate, n_fft=n_fft, hop_length=hop)
    phase = rtpghi(mags, config, lookahead=renderer.lookahead, tol=float(np.exp(renderer._log_tol)), lam=lam)
    phase = fgla_grid(mags, phase, g, hop, n_iter)
    spec = mags * np.exp(1j * phase)
    # Noise floor, per frame, as the live kernel adds it (its pitch and the timbre state of that moment).
    re, im = np.ascontiguousarray(spec.real), np.ascontiguousarray(spec.imag)
    rng = np.array([((note.slot + 1) * 0x9E3779B97F4A7C15 + seed) % (1 << 64)], dtype=np.uint64)
    f0s, vers = note.frame_f0_hz, note.noise_version
    for k in range(len(mags)):
        env, n_env, scale = renderer.noise_snapshots[vers[k]]
        if n_env:
            add_noise_kernel(
                env,
                n_env,
                scale * float(renderer._noise_factors[z]),
                float(f0s[k]),
                float(renderer.sample_rate),
                n_fft,
                rng,
                re[k],
                im[k],
            )
    frames = np.fft.irfft(re + 1j * im, n=n_fft, axis=-1)
    w_out = renderer._win_out[z, :n_fft]
    w_norm = renderer._win_norm[z, :n_fft]
    n = note.n_samples
    ola = np.zeros(n + n_fft)
    norm = np.zeros(n + n_fft)
    for k, c in enumerate(centres):
        start = int(c) - n_fft // 2
        lo = max(0, -start)  # samples before the note are never read (as live)
        if start + lo >= n:
            continue
        ola[start + lo : start + n_fft] += frames[k, lo:] * w_out[lo:]
        norm[start + lo : start + n_fft] += w_norm[lo:]
    ola, norm = ola[:n], norm[:n]
    signal = np.where(norm > 1e-9, ola / np.maximum(norm, 1e-9), 0.0)
    return NoteReconstruction(signal, mags, centres, g)


def sustain_region(gain: np.ndarray) -> np.ndarray:
    """bool [n]: samples where a voice's gain is at its held level (within 1 %): attack, decay and release
    excluded."""
    held = np.median(gain[: len(gain) * 3 // 4])
    return np.abs(gain - held) < 0.01 * held


def note_spectral_convergence_db(y: np.ndarray, note: CapturedNote, recon: NoteReconstruction) -> float:
    """DESIGN.md spectral convergence (dB) of a rendered note (engine output y / the voice's gain) against
    the magnitude frames the renderer drew (recon.target), on the note's own STFT grid and window, over the
    frames lying wholly in the sustain. NaN when no frame does. Real-time safe: no."""
    gain = note.gain
    ok = sustain_region(gain)
    x = y[note.start_sample : note.start_sample + len(gain)].astype(np.float64) / np.maximum(gain, 1e-9)
    n_fft = len(recon.window)
    err = ref = 0.0
    for k, c in enumerate(recon.centres):
        s = int(c) - n_fft // 2
        if s < 0 or s + n_fft > len(x) or not ok[s : s + n_fft].all():
            continue
        mag = np.abs(np.fft.rfft(x[s : s + n_fft] * recon.window))
        err += float(np.sum((mag - recon.target[k]) ** 2))
        ref += float(np.sum(recon.target[k] ** 2))
    return 10 * np.log10(err / ref) if ref > 0 else float("nan")


class IstftPlaybackRenderer:
    """VoiceRenderer that plays precomputed per-note signals (float [n_samples], pre-gain) in start order,
    times each voice's per-sample gain. notes: the capture's CapturedNote list (for pitch checks).
    latency_samples: as the capture renderer's, so the engine's tail handling is the same.
    Real-time safe: no (offline playback)."""

    def __init__(self, capture: IstftCaptureRenderer, signals: list[np.ndarray]):
        self.sample_rate = capture.sample_rate
        self.max_voices = capture.max_voices
        self.chunk_size = capture.chunk_size
        self.latency_samples = capture.latency_samples
        self.timbre = None
        self._notes = capture.notes
        self._signals = [np.asarray(s, dtype=np.float32) for s in signals]
        self._slot_note = [-1] * self.max_voices
        self._pos = [0] * self.max_voices
        self._started = 0

    def set_timbre(self, timbre) -> None:
        self.timbre = timbre

    def start_voice(self, voice: int, f0_hz: float) -> None:
        i = self._started
        expected = self._notes[i] if i < len(self._notes) else None
        if expected is None or expected.slot != voice or abs(expected.f0_start_hz - f0_hz) > 1e-3:
            raise RuntimeError(f"fgla playback diverged from the capture pass at note {i} (slot {voice})")
        self._slot_note[voice] = i
        self._pos[voice] = 0
        self._started += 1

    def render(self, f0_hz: np.ndarray, gain: np.ndarray, active: np.ndarray, out: np.ndarray) -> None:
        chunk = out.shape[0]
        for v in range(len(active)):
            i = self._slot_note[v]
            if not active[v] or i < 0:
                continue
            sig, p = self._signals[i], self._pos[v]
            seg = sig[p : p + chunk]
            out[: len(seg)] += seg * gain[v, : len(seg)]
            self._pos[v] = p + chunk


def render_messages_fgla(
    make_controls: Callable[[Callable], object],
    messages: Iterable,
    end_time_s: float = 0.0,
    n_iter: int = DEFAULT_FGLA_ITERATIONS,
    progress: Callable[[int], None] | None = None,
    keep_frames: bool = False,
    renderer_kwargs: dict | None = None,
) -> tuple[np.ndarray, IstftCaptureRenderer, list[NoteReconstruction]]:
    """Render messages with the istft engine's FGLA phase (module docstring).

    make_controls(factory) -> Controls on a fresh Engine (timbre sent at sample 0, as
    `offline.render_messages` expects) whose "istft" renderer is factory(sample_rate, n_slots, chunk_size);
    it is called twice (capture, playback). messages, end_time_s, progress: as `offline.render_messages`
    (progress counts the capture pass). keep_frames: keep every note's frames, gains and target in the
    result (for measurements; memory grows with the piece) instead of freeing them when the note has been
    reconstructed. renderer_kwargs: IstftRenderer options. Returns (audio float32 [n_samples], the capture
    renderer, per-note reconstructions in start order). Real-time safe: no.
    """
    from vaesynth.synth.offline import render_messages

    messages = list(messages)
    holder: dict = {}

    def build_capture(sample_rate: int, max_voices: int, chunk_size: int) -> IstftCaptureRenderer:
        holder["capture"] = IstftCaptureRenderer(
            sample_rate,
            max_voices,
            chunk_size=chunk_size,
            n_iter=n_iter,
            keep_frames=keep_frames,
            **(renderer_kwargs or {}),
        )
        return holder["capture"]

    render_messages(make_controls(build_capture), messages, end_time_s, progress=progress)
    capture = holder["capture"]
    recons = capture.finish()
    playback = IstftPlaybackRenderer(capture, [r.signal for r in recons])
    audio = render_messages(make_controls(lambda sr, nv, ch: playback), messages, end_time_s)
    return audio, capture, recons
