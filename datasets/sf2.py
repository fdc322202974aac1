"""SoundFont notes as spectral frames: dry in-process FluidSynth rendering, per-frame program/note/velocity.

`render_soundfont(path)` is what `sf2:PATH` runs; `sf2:default` (or `sf2:`) names Debian's FluidR3 GM
(`DEFAULT_SF2`, MIT licence, package fluid-soundfont-gm). Every note is rendered on its own, from a silent
synth, without reverb or chorus (dry), at the analysis sample rate, as float samples (no int16 dither):

    note on (velocity) ── duration_s held ── note off ── release_s ── all sounds off, controllers reset

The frames kept per note are the sustained part: frames centred inside the held segment whose loudness is
within `SUSTAIN_RANGE_DB` of that note's loudest frame (the silent first half-window and the decay tail are
dropped). Each frame carries factors `program, note, velocity` (INTERFACE.md), the tracked f0 (`note_f0`:
YIN on the note's fundamental, searched near the note; NaN where unvoiced), loudness, and its note's id as
group, so held-out splits hold out whole notes.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from ctypes import c_int, c_void_p
from pathlib import Path

import numpy as np

from vaesynth.datasets import cache
from vaesynth.datasets.base import Dataset
from vaesynth.errors import UserError
from vaesynth.synth.config import SpectralConfig
from vaesynth.synth.spectral import magnitude

DEFAULT_SF2 = "/usr/share/sounds/sf2/FluidR3_GM.sf2"

# Contrasting General MIDI programs (bank 0) that all sound across DEFAULT_NOTES: struck, plucked, bowed
# and blown (brass, reed, edge), decaying and sustained, bright and dark. Organs are left out on purpose:
# FluidR3's drawbar organ (16) carries a 16' sub-octave, so its waveform's period is an octave or two below
# the note, and its church organ (19) is ~10 cents sharp and mostly aperiodic to YIN: wrong pitch labels.
DEFAULT_PROGRAMS = (0, 4, 24, 48, 56, 65, 71, 73)
PROGRAM_NAMES = {
    0: "acoustic grand piano",
    4: "electric piano 1",
    24: "nylon guitar",
    48: "string ensemble 1",
    56: "trumpet",
    65: "alto sax",
    71: "clarinet",
    73: "flute",
}
# MIDI 40..84 (E2..C6) every 4 semitones: a range every default program plays convincingly.
DEFAULT_NOTES = tuple(range(40, 85, 4))
DEFAULT_VELOCITIES = (50, 80, 110)
NOTE_DURATION_S = 1.0
RELEASE_S = 0.5
# FluidSynth output gain: FluidR3 notes at velocity 127 peak near -6 dBFS, so nothing clips.
SYNTH_GAIN = 0.5
SUSTAIN_RANGE_DB = 40.0
F0_SEARCH_SEMITONES = 7.0
F0_MAX_DEVIATION_CENTS = 100.0
# Low-pass cutoff for pitch tracking, in multiples of the note's frequency (between partials 1 and 2).
FUNDAMENTAL_CUTOFF = 1.5
# FluidSynth's accepted synth.sample-rate range.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8000, 96000
_BLOCK = 4096
_FLUID_BLOCK = 64  # FluidSynth's internal block (FLUID_BUFSIZE): events take effect on its boundaries


class SoundFontWarning(UserWarning):
    """A program or note of the SoundFont could not be rendered and was skipped."""


def resolve_sf2_path(path: str | os.PathLike | None) -> Path:
    """`default`/empty -> DEFAULT_SF2; otherwise the path (~ expanded).

    Raises UserError (one line) if the file is missing or is not a SoundFont 2 file."""
    if path is None or str(path) in ("", "default"):
        path = DEFAULT_SF2
    p = Path(path).expanduser()
    if not p.is_file():
        hint = " (install Debian's fluid-soundfont-gm, or give sf2:PATH)" if str(p) == DEFAULT_SF2 else ""
        raise UserError(f"SoundFont {str(p)!r} not found{hint}")
    with open(p, "rb") as f:
        head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise UserError(f"{str(p)!r} is not a SoundFont 2 file (no RIFF sfbk header)")
    # Checked here because FluidSynth, failing on a cut file, hands it to its DLS loader, which prints
    # glib criticals to stderr that no log hook catches.
    riff_bytes = int.from_bytes(head[4:8], "little") + 8
    if p.stat().st_size < riff_bytes:
        raise UserError(f"{str(p)!r} is truncated ({p.stat().st_size} of {riff_bytes} bytes)")
    return p


_LOG_MESSAGES: list[str] = []
_LOG_HOOKS: list = []  # keeps the ctypes callbacks alive


@contextlib.contextmanager
def _native_stderr_silenced():
    """Point file descriptor 2 at /dev/null for the duration: a corrupt SoundFont makes libfluidsynth try
    its DLS loader (libinstpatch), which prints glib criticals straight to fd 2, past any Python hook."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _route_fluidsynth_log() -> None:
    """Send libfluidsynth's log to `_LOG_MESSAGES` instead of stderr (once per process), so that user
    errors stay one line; the last messages are quoted when loading fails."""
    if _LOG_HOOKS:
        return
    import ctypes

    import fluidsynth

    callback_type = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
    set_log = fluidsynth.cfunc(
        "fluid_set_log_function",
        ctypes.c_void_p,
        ("level", ctypes.c_int, 1),
        ("fun", callback_type, 1),
        ("data", ctypes.c_void_p, 1),
    )
    if set_log is None:
        return

    def hook(level, message, data):
        _LOG_MESSAGES.append((message or b"").decode(errors="replace"))
        del _LOG_MESSAGES[:-20]

    cb = callback_type(hook)
    _LOG_HOOKS.append(cb)
    for level in range(5):  # FLUID_PANIC, ERR, WARN, INFO, DBG
        set_log(level, cb, None)


class NoteRenderer:
    """A dry FluidSynth instance with one SoundFont loaded, rendering one note at a time into float32.

    Reverb and chorus are off; between notes every sound is cut and the controllers reset, so no note
    hears the previous one. Not thread safe; close() (or use as a context manager) frees the synth.
    """

    def __init__(self, path: str | os.PathLike, sample_rate: int):
        import fluidsynth

        if not (MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE):
            raise UserError(
                f"SoundFont rendering needs a sample rate in {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz, "
                f"got {sample_rate}"
            )
        self.path = resolve_sf2_path(path)
        self.sample_rate = int(sample_rate)
        _route_fluidsynth_log()
        _LOG_MESSAGES.clear()
        settings = {
            "synth.reverb.active": 0,
            "synth.chorus.active": 0,
            "synth.dynamic-sample-loading": 1,
            "synth.polyphony": 256,
            "synth.cpu-cores": 1,
        }
        self.synth = fluidsynth.Synth(gain=SYNTH_GAIN, samplerate=self.sample_rate, channels=16, **settings)
        with _native_stderr_silenced():
            self.sfid = self.synth.sfload(str(self.path))
        if self.sfid < 0:
            self.close()
            why = _LOG_MESSAGES[0] if _LOG_MESSAGES else "corrupt SoundFont?"
            raise UserError(f"FluidSynth could not load {str(self.path)!r} ({' '.join(why.split())})")
        self._write_float = fluidsynth.cfunc(
            "fluid_synth_write_float",
            c_int,
            ("synth", c_void_p, 1),
            ("len", c_int, 1),
            ("lout", c_void_p, 1),
            ("loff", c_int, 1),
            ("lincr", c_int, 1),
            ("rout", c_void_p, 1),
            ("roff", c_int, 1),
            ("rincr", c_int, 1),
        )
        self._stereo = np.zeros(2 * _BLOCK, dtype=np.float32)
        self._program = None
        self._n_rendered = 0
        self._reset_channel()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        if getattr(self, "synth", None) is not None:
            self.synth.delete()
            self.synth = None

    def has_program(self, program: int, bank: int = 0) -> bool:
        """Whether the SoundFont has a preset for (bank, program)."""
        ok = self.synth.program_select(0, self.sfid, bank, int(program)) == 0
        self._program = int(program) if ok and bank == 0 else None
        return ok

    def _render(self, n_samples: int) -> np.ndarray:
        out = np.empty(n_samples, dtype=np.float32)
        done = 0
        buf = self._stereo
        while done < n_samples:
            n = min(_BLOCK, n_samples - done)
            self._write_float(self.synth.synth, n, buf.ctypes.data, 0, 2, buf.ctypes.data, 1, 2)
            # Dry GM presets are close to mono; the pan of the sample is not timbre, so mix to mono.
            out[done : done + n] = 0.5 * (buf[0 : 2 * n : 2] + buf[1 : 2 * n : 2])
            done += n
        self._n_rendered += n_samples
        return out

    def render(
        self,
        program: int,
        note: int,
        velocity: int,
        duration_s: float = NOTE_DURATION_S,
        release_s: float = RELEASE_S,
    ) -> np.ndarray:
        """One note: float32 mono [round((duration_s + release_s) * sample_rate)] samples.

        program: GM program 0..127 (bank 0). note: MIDI 0..127. velocity: 1..127.
        duration_s: seconds held before note off. release_s: seconds rendered after note off.
        Raises ValueError for out-of-range arguments or a program the SoundFont lacks. Real-time safe: no.
        """
        for name, v, lo in (("program", program, 0), ("note", note, 0), ("velocity", velocity, 1)):
            if not (lo <= int(v) <= 127):
                raise ValueError(f"{name} must be in {lo}..127, got {v}")
        if duration_s <= 0 or release_s < 0:
            raise ValueError("duration_s must be > 0 and release_s >= 0")
        if self._program != program and not self.has_program(program):
            raise ValueError(f"{self.path.name} has no preset for program {program} (bank 0)")
        n_on = int(round(duration_s * self.sample_rate))
        n_off = int(round(release_s * self.sample_rate))
        # FluidSynth applies events at its 64-sample block boundaries: start every note on one, so a note
        # renders the same whatever was rendered before it.
        self._render(-self._n_rendered % _FLUID_BLOCK)
        self.synth.noteon(0, int(note), int(velocity))
        held = self._render(n_on)
        self.synth.noteoff(0, int(note))
        tail = self._render(n_off)
        self._reset_channel()
        return np.concatenate([held, tail])

    def _reset_channel(self) -> None:
        """Cut every voice (a release may still ring) and reset the controllers (run before the first note
        too, so every note starts from the same channel state). Known residue: within FluidSynth's first
        64-sample block of a note, a reused voice slot ramps its gain from the slot's previous value
        (~-56 dB re peak); of the frames `sustained_frames` keeps, only the first sees that block, at the
        edge of its window (Hann weight < 0.01), so ~-96 dB there."""
        self.synth.all_sounds_off(0)
        self.synth.cc(0, 121, 0)
        self._render(_FLUID_BLOCK)  # the cut voices finish their shutdown off the record


def render_note(
    path: str | os.PathLike,
    program: int,
    note: int,
    velocity: int,
    duration_s: float,
    sample_rate: int,
    release_s: float = RELEASE_S,
) -> np.ndarray:
    """Render one dry SoundFont note (see `NoteRenderer.render`): float32 mono
    [round((duration_s + release_s) * sample_rate)]. path: .sf2 file or "default". Real-time safe: no.
    """
    with NoteRenderer(path, sample_rate) as r:
        try:
            return r.render(program, note, velocity, duration_s, release_s)
        except ValueError as e:
            raise UserError(str(e)) from None


def note_grid(programs, notes, velocities) -> list[tuple[int, int, int]]:
    """Every (program, note, velocity), program-major (the order notes are rendered in)."""
    return [(int(p), int(n), int(v)) for p in programs for n in notes for v in velocities]


def sustained_frames(
    loud_db: np.ndarray, n_held_samples: int, config: SpectralConfig, range_db: float = SUSTAIN_RANGE_DB
) -> np.ndarray:
    """Indices of the frames kept for one note (see the module docstring).

    loud_db: [n_frames] per-frame loudness in dB. n_held_samples: samples before note off.
    Frames whose window starts before the note (centre < n_fft/2) or whose centre is at or after note off
    are dropped, then the contiguous run from the first to the last frame within `range_db` of the loudest
    remaining frame is kept. Returns int64 [n_kept] (possibly empty).
    """
    hop = config.hop_length
    first = -(-(config.n_fft // 2) // hop)
    last = (n_held_samples - 1) // hop
    if last < first:
        return np.zeros(0, dtype=np.int64)
    seg = loud_db[first : last + 1]
    finite = np.isfinite(seg)
    if not finite.any():
        return np.zeros(0, dtype=np.int64)
    peak = np.max(seg[finite])
    above = np.flatnonzero(finite & (seg >= peak - range_db))
    return np.arange(first + above[0], first + above[-1] + 1, dtype=np.int64)


def note_f0(x: np.ndarray, note: int, config: SpectralConfig) -> np.ndarray:
    """Tracked f0 per frame of one rendered note, float32 [n_frames], NaN where unvoiced.

    YIN (`pitch.estimate_f0`) searched within ±F0_SEARCH_SEMITONES of the note, first on the note
    low-passed just above its fundamental (zero-phase Butterworth at FUNDAMENTAL_CUTOFF × the note's
    frequency), then, for frames where that finds nothing (a weak or missing fundamental), on the full
    signal. The low-pass matters for stiff strings: a piano's upper partials are stretched sharp, and YIN
    on the full signal reads its notes 10–25 cents sharp although the fundamental is in tune. Frames more
    than F0_MAX_DEVIATION_CENTS from the note are NaN (a chiff, a stray octave). Real-time safe: no.
    """
    from scipy.signal import butter, sosfiltfilt

    from vaesynth.datasets.pitch import cents_between, estimate_f0, midi_to_hz

    sr = config.sample_rate
    ref_hz = float(midi_to_hz(note))
    span = 2.0 ** (F0_SEARCH_SEMITONES / 12.0)
    fmin_hz, fmax_hz = ref_hz / span, min(ref_hz * span, 0.45 * sr)
    x = np.asarray(x, dtype=np.float64)
    best = None
    cutoff_hz = FUNDAMENTAL_CUTOFF * ref_hz
    if cutoff_hz < 0.45 * sr:
        sos = butter(8, cutoff_hz, btype="low", fs=sr, output="sos")
        best, _ = estimate_f0(sosfiltfilt(sos, x), sr, config.hop_length, fmin_hz=fmin_hz, fmax_hz=fmax_hz)
        best = np.asarray(best, dtype=np.float64)
    full, _ = estimate_f0(x, sr, config.hop_length, fmin_hz=fmin_hz, fmax_hz=fmax_hz)
    full = np.asarray(full, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        full[np.abs(cents_between(full, ref_hz)) > F0_MAX_DEVIATION_CENTS] = np.nan
        if best is None:
            best = full
        else:
            best[np.abs(cents_between(best, ref_hz)) > F0_MAX_DEVIATION_CENTS] = np.nan
            best = np.where(np.isfinite(best), best, full)
    return best.astype(np.float32)


def render_soundfont(
    path: str | os.PathLike | None = None,
    config: SpectralConfig | None = None,
    seed: int = 0,
    size: int | None = None,
    progress: bool = True,
    cache_dir: str | os.PathLike | None | bool = None,
    programs=None,
    notes=None,
    velocities=None,
    duration_s: float = NOTE_DURATION_S,
    release_s: float = RELEASE_S,
) -> Dataset:
    """Render SoundFont notes across programs × notes × velocities and analyse their sustained frames.

    path: .sf2 file, or "default"/"" for DEFAULT_SF2. config: analysis settings (default SpectralConfig());
    notes are rendered at config.sample_rate. programs, notes, velocities: iterables of ints (defaults
    DEFAULT_PROGRAMS, DEFAULT_NOTES, DEFAULT_VELOCITIES). size: number of notes: None = the whole grid,
    otherwise a subset of the grid drawn with `seed` (deterministic). duration_s: seconds each note is held.
    cache_dir: cache folder (None = the default one, False = no cache).
    Returns a Dataset with magnitudes, f0_hz, loudness_db, factors [program, note, velocity], groups (note
    id = index into info["notes"]); info["cache"] is "hit", "miss", "off" or
    "unwritable".
    Raises UserError (one line) for a missing/invalid SoundFont, a bad size or when nothing renders.
    """
    from tqdm import tqdm

    from vaesynth.datasets.pitch import loudness_db

    config = config or SpectralConfig()
    sf2_path = resolve_sf2_path(path)
    programs = tuple(DEFAULT_PROGRAMS if programs is None else programs)
    notes = tuple(DEFAULT_NOTES if notes is None else notes)
    velocities = tuple(DEFAULT_VELOCITIES if velocities is None else velocities)
    grid = note_grid(programs, notes, velocities)
    if not grid:
        raise UserError("no notes to render: programs, notes and velocities must each be non-empty")
    if size is not None:
        if not (1 <= size <= len(grid)):
            raise UserError(
                f"--size for this SoundFont grid must be in 1..{len(grid)} notes "
                f"({len(programs)} programs x {len(notes)} notes x {len(velocities)} velocities), got {size}"
            )
        pick = np.sort(np.random.default_rng(seed).choice(len(grid), size=size, replace=False))
        grid = [grid[i] for i in pick]

    use_cache = cache_dir is not False
    root = cache.cache_root(None if cache_dir is False else cache_dir) if use_cache else None
    import fluidsynth

    hasher = cache.FileHasher(root)
    key = cache.make_key(
        "sf2",
        {
            "sf2": hasher.content_hash(sf2_path) if use_cache else "",
            "code": cache.code_fingerprint(
                "vaesynth.datasets.sf2", "vaesynth.datasets.pitch", "vaesynth.synth.spectral"
            ),
            "grid": grid,
            "config": config.to_dict(),
            "duration_s": duration_s,
            "release_s": release_s,
            "gain": SYNTH_GAIN,
            "sustain_range_db": SUSTAIN_RANGE_DB,
            "f0": [F0_SEARCH_SEMITONES, F0_MAX_DEVIATION_CENTS, FUNDAMENTAL_CUTOFF],
            "pyfluidsynth": getattr(fluidsynth, "api_version", "?"),
            "libfluidsynth": _fluidsynth_version(),
        },
    )
    if use_cache:
        hasher.save()
        hit = cache.load(key, root)
        if hit is not None:
            hit.info["cache"] = "hit"
            return hit

    mags, f0s, louds, facs, groups, rendered, skipped = [], [], [], [], [], [], []
    n_held = int(round(duration_s * config.sample_rate))
    with NoteRenderer(sf2_path, config.sample_rate) as renderer:
        for program in sorted(set(programs)):
            if not renderer.has_program(program):
                warnings.warn(
                    f"{sf2_path.name} has no program {program} (bank 0); skipped",
                    SoundFontWarning,
                    stacklevel=2,
                )
        for program, note, velocity in tqdm(
            grid, desc="rendering notes", unit="note", disable=not progress, leave=False
        ):
            try:
                x = renderer.render(program, note, velocity, duration_s, release_s)
            except ValueError as e:
                skipped.append([program, note, velocity, str(e)])
                continue
            loud = np.asarray(
                loudness_db(x, config.sample_rate, config.hop_length, config.n_fft), dtype=np.float32
            )
            if float(np.max(np.abs(x[:n_held]), initial=0.0)) <= 0.0:
                skipped.append([program, note, velocity, "silent"])
                continue
            keep = sustained_frames(loud, n_held, config)
            if len(keep) == 0:
                skipped.append([program, note, velocity, "no sustained frames"])
                continue
            mags.append(magnitude(x, config)[keep])
            f0s.append(note_f0(x, note, config)[keep])
            louds.append(loud[keep])
            facs.append(np.tile(np.array([program, note, velocity], dtype=np.float32), (len(keep), 1)))
            groups.append(np.full(len(keep), len(rendered), dtype=np.int64))
            rendered.append([program, note, velocity])
    if not rendered:
        raise UserError(f"no note of {str(sf2_path)!r} rendered any sound ({len(skipped)} skipped)")
    if skipped:
        warnings.warn(
            f"{len(skipped)} of {len(grid)} SoundFont notes skipped (missing preset or silent)",
            SoundFontWarning,
            stacklevel=2,
        )
    info = {
        "source": "sf2",
        "sf2": str(sf2_path),
        "notes": rendered,
        "skipped": skipped,
        "programs": {str(p): PROGRAM_NAMES.get(p, "") for p in programs},
        "duration_s": duration_s,
        "release_s": release_s,
        "seed": seed,
        "n_notes": len(rendered),
    }
    ds = Dataset(
        np.concatenate(mags),
        config,
        f0_hz=np.concatenate(f0s),
        loudness_db=np.concatenate(louds),
        factors=np.concatenate(facs),
        factor_names=["program", "note", "velocity"],
        groups=np.concatenate(groups),
        name=f"sf2:{path if path else 'default'}",
        info=info,
    )
    if use_cache:
        ds.info["cache"] = "miss" if cache.save(key, ds, root) is not None else "unwritable"
    else:
        ds.info["cache"] = "off"
    return ds


def _fluidsynth_version() -> str:
    """libfluidsynth's version string (rendering may differ between releases, so it is part of cache keys)."""
    try:
        import fluidsynth

        fn = fluidsynth.cfunc("fluid_version_str", c_void_p)
        from ctypes import string_at

        return string_at(fn()).decode() if fn is not None else "?"
    except Exception:
        return "?"
