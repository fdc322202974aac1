"""Audio folders: reading every format, skipping bad files, resampling, silence trimming, and the cache."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vaesynth.datasets import audio, cache
from vaesynth.datasets.audio import AudioFileWarning, load_folder
from vaesynth.errors import UserError
from vaesynth.synth.config import SpectralConfig

SR = 44100
CONFIG = SpectralConfig(SR, 2048, 512)
MARGIN = audio.trim_margin_length(CONFIG)


def tone(f_hz, seconds, sample_rate, amp=0.3):
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (amp * np.sin(2 * np.pi * f_hz * t)).astype(np.float32)


def padded(x, lead_s, tail_s, sample_rate):
    return np.concatenate(
        [np.zeros(int(lead_s * sample_rate), np.float32), x, np.zeros(int(tail_s * sample_rate), np.float32)]
    )


def frames_bounds(n_content):
    """Frame count range for n_content sounding samples after trimming: the content itself, up to the
    content plus the margin and one partial block on each side."""
    lo = 1 + n_content // CONFIG.hop_length
    hi = 1 + (n_content + 2 * MARGIN + 2 * CONFIG.hop_length) // CONFIG.hop_length
    return lo, hi


@pytest.fixture
def folder(tmp_path):
    """Good files in every format (nested, stereo, 22.05 kHz, upper-case extension) and bad ones.

    Returns (folder, {relative path: number of sounding samples at 44.1 kHz}, set of bad relative paths).
    """
    root = tmp_path / "sounds"
    (root / "sub" / "deeper").mkdir(parents=True)
    good = {}
    x = tone(440, 0.5, SR)
    sf.write(root / "a_tone.wav", padded(x, 0.25, 0.3, SR), SR)  # silence to trim on both sides
    good["a_tone.wav"] = len(x)
    sf.write(root / "sub" / "b_stereo.flac", np.stack([tone(330, 0.4, SR), tone(330, 0.4, SR, 0.1)], 1), SR)
    good["sub/b_stereo.flac"] = int(0.4 * SR)
    sf.write(root / "c.ogg", tone(550, 0.6, SR), SR)
    good["c.ogg"] = int(0.6 * SR)
    sf.write(root / "sub" / "deeper" / "d.aiff", tone(660, 0.3, SR), SR)
    good["sub/deeper/d.aiff"] = int(0.3 * SR)
    sf.write(root / "E.AIF", tone(770, 0.3, SR), SR, format="AIFF")
    good["E.AIF"] = int(0.3 * SR)
    sf.write(root / "f_22k.wav", tone(1000, 0.5, 22050), 22050)
    good["f_22k.wav"] = int(0.5 * SR)
    (root / "notes.txt").write_text("not audio, not even looked at")
    bad = {"corrupt.wav", "empty.wav", "sub/truncated.flac", "silent.wav"}
    (root / "corrupt.wav").write_bytes(np.random.default_rng(0).bytes(4000))
    (root / "empty.wav").write_bytes(b"")
    sf.write(root / "sub" / "full.flac", tone(220, 1.0, SR), SR)
    data = (root / "sub" / "full.flac").read_bytes()
    (root / "sub" / "truncated.flac").write_bytes(data[: len(data) // 2])
    (root / "sub" / "full.flac").unlink()
    sf.write(root / "silent.wav", np.zeros(SR // 2, np.float32), SR)
    return root, good, bad


def test_load_folder_reads_good_files_and_skips_bad_ones_with_warnings(folder, tmp_path):
    root, good, bad = folder
    with pytest.warns(AudioFileWarning) as record:
        ds = load_folder(root, CONFIG, progress=False, cache_dir=tmp_path / "cache")
    messages = [str(w.message) for w in record]
    for rel in bad:
        assert any(m.startswith(f"skipped {rel}:") for m in messages), (rel, messages)
    assert any("4 audio file(s)" in m and "skipped" in m for m in messages)
    assert all("\n" not in m for m in messages)
    assert ds.info["files"] == sorted(good)  # sorted by relative path, deterministic
    assert set(ds.info["skipped"]) == bad and ds.info["n_skipped"] == 4 and ds.info["n_found"] == 10
    assert ds.info["skipped"]["silent.wav"] == "silent"
    # Frame counts per file: the sounding content after trimming, nothing of the silence.
    for g, rel in enumerate(ds.info["files"]):
        n = int(np.sum(ds.groups == g))
        lo, hi = frames_bounds(good[rel])
        assert lo <= n <= hi, (rel, n, lo, hi)
    assert ds.magnitudes.shape == (len(ds.groups), CONFIG.n_bins)
    assert ds.f0_hz.shape == ds.loudness_db.shape == (ds.n_frames,)


def test_load_folder_mixes_channels_to_mono(tmp_path):
    # Left at amplitude 0.3, right at 0.1 -> mono 0.2: the spectral peak is 2/3 of a 0.3 mono tone's.
    root = tmp_path / "s"
    root.mkdir()
    sf.write(root / "mono.wav", tone(440, 0.5, SR), SR)
    sf.write(root / "stereo.wav", np.stack([tone(440, 0.5, SR), tone(440, 0.5, SR, 0.1)], 1), SR)
    ds = load_folder(root, CONFIG, progress=False, cache_dir=False)
    peak = [np.median(ds.magnitudes[ds.groups == g].max(axis=1)) for g in range(2)]
    assert ds.info["files"] == ["mono.wav", "stereo.wav"]
    assert peak[1] / peak[0] == pytest.approx(2 / 3, rel=0.01)


def test_resample_preserves_tone_frequency_matches_fft_peak(tmp_path):
    # A 1 kHz tone stored at 22.05 kHz and at 48 kHz, read at 44.1 kHz: spectral peak within one bin of
    # 1 kHz, tracked f0 within 5 cents, and the duration kept.
    root = tmp_path / "s"
    root.mkdir()
    sf.write(root / "a22.wav", tone(1000, 0.5, 22050), 22050)
    sf.write(root / "b48.wav", tone(1000, 0.5, 48000), 48000)
    ds = load_folder(root, CONFIG, progress=False, cache_dir=False)
    for g in range(2):
        mags = ds.magnitudes[ds.groups == g]
        peak_bin = int(np.argmax(mags.mean(axis=0)))
        assert abs(peak_bin * CONFIG.bin_hz - 1000.0) <= CONFIG.bin_hz
        f0 = ds.f0_hz[ds.groups == g]
        assert abs(1200 * np.log2(np.nanmedian(f0) / 1000.0)) <= 5.0
        lo, hi = frames_bounds(int(0.5 * SR))
        assert lo <= len(mags) <= hi
    y = audio.resample(tone(1000, 0.5, 48000), 48000, SR)
    assert len(y) == int(0.5 * SR)


def test_sounding_range_trims_silence_to_block_and_margin():
    x = padded(tone(300, 0.2, SR), 0.3, 0.4, SR)
    onset, offset = int(0.3 * SR), int(0.3 * SR) + int(0.2 * SR)
    start, stop = audio.sounding_range(x, 512, -60.0, margin_length=1000)
    assert onset - 1000 - 512 < start <= onset - 1000
    assert offset + 1000 <= stop < offset + 1000 + 512
    assert audio.sounding_range(np.zeros(1000, np.float32), 512) == (0, 0)
    # A -70 dB hiss before the tone is silence; a -50 dB one is not.
    hiss = np.full(int(0.3 * SR), 0.3 * 10 ** (-70 / 20), np.float32)
    assert audio.sounding_range(np.concatenate([hiss, tone(300, 0.2, SR)]), 512)[0] >= len(hiss) - 512
    hiss *= 10 ** (20 / 20)
    assert audio.sounding_range(np.concatenate([hiss, tone(300, 0.2, SR)]), 512)[0] == 0


def test_missing_empty_and_unusable_folders_are_one_line_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist") as e:
        load_folder(tmp_path / "nope", progress=False, cache_dir=False)
    assert "\n" not in str(e.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no audio files"):
        load_folder(tmp_path / "empty", progress=False, cache_dir=False)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.wav").write_bytes(b"RIFF nonsense")
    with pytest.warns(AudioFileWarning), pytest.raises(UserError, match="none of the 1 audio files"):
        load_folder(tmp_path / "bad", progress=False, cache_dir=False)


def _arrays(ds):
    return {k: getattr(ds, k) for k in ("magnitudes", "f0_hz", "loudness_db", "groups")}


def test_cache_second_load_is_hit_with_identical_arrays(folder, tmp_path):
    root, _, _ = folder
    cache_dir = tmp_path / "cache"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AudioFileWarning)
        first = load_folder(root, CONFIG, progress=False, cache_dir=cache_dir)
        second = load_folder(root, CONFIG, progress=False, cache_dir=cache_dir)
    assert (first.info["cache"], second.info["cache"]) == ("miss", "hit")
    for name, v in _arrays(first).items():
        np.testing.assert_array_equal(v, getattr(second, name), err_msg=name)
    assert second.info["files"] == first.info["files"]
    assert second.info["skipped"] == first.info["skipped"]


def test_cache_misses_when_a_file_or_a_setting_changes(tmp_path):
    root = tmp_path / "s"
    root.mkdir()
    sf.write(root / "a.wav", tone(440, 0.3, SR), SR)
    cache_dir = tmp_path / "cache"
    assert load_folder(root, CONFIG, progress=False, cache_dir=cache_dir).info["cache"] == "miss"
    assert load_folder(root, CONFIG, progress=False, cache_dir=cache_dir).info["cache"] == "hit"
    other = SpectralConfig(SR, 1024, 256)
    assert load_folder(root, other, progress=False, cache_dir=cache_dir).info["cache"] == "miss"
    # Same length, same size, new content (mtime moved too): a miss, and the new content is what loads.
    sf.write(root / "a.wav", tone(880, 0.3, SR), SR)
    st = os.stat(root / "a.wav")
    os.utime(root / "a.wav", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    ds = load_folder(root, CONFIG, progress=False, cache_dir=cache_dir)
    assert ds.info["cache"] == "miss"
    assert abs(int(np.argmax(ds.magnitudes.mean(axis=0))) * CONFIG.bin_hz - 880) <= CONFIG.bin_hz
    # A file added is a miss too.
    sf.write(root / "b.wav", tone(440, 0.3, SR), SR)
    assert load_folder(root, CONFIG, progress=False, cache_dir=cache_dir).info["cache"] == "miss"


def test_corrupt_cache_entry_is_rebuilt(tmp_path):
    root = tmp_path / "s"
    root.mkdir()
    sf.write(root / "a.wav", tone(440, 0.3, SR), SR)
    cache_dir = tmp_path / "cache"
    first = load_folder(root, CONFIG, progress=False, cache_dir=cache_dir)
    entries = list(Path(cache_dir).glob("folder-*.npz"))
    assert len(entries) == 1
    data = entries[0].read_bytes()
    entries[0].write_bytes(data[: len(data) // 3])  # a crash mid-copy, a full disk...
    with pytest.warns(cache.CacheWarning, match="rebuilding"):
        rebuilt = load_folder(root, CONFIG, progress=False, cache_dir=cache_dir)
    assert rebuilt.info["cache"] == "miss"
    for name, v in _arrays(first).items():
        np.testing.assert_array_equal(v, getattr(rebuilt, name), err_msg=name)
    assert load_folder(root, CONFIG, progress=False, cache_dir=cache_dir).info["cache"] == "hit"
    assert not list(Path(cache_dir).glob("*.tmp"))  # atomic writes leave no temp files behind


def test_cache_root_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("VAESYNTH_CACHE", str(tmp_path / "v"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache.cache_root() == tmp_path / "v"
    monkeypatch.delenv("VAESYNTH_CACHE")
    assert cache.cache_root() == tmp_path / "x" / "vaesynth"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert cache.cache_root() == tmp_path / "h" / ".cache" / "vaesynth"
    assert cache.cache_root(tmp_path / "explicit") == tmp_path / "explicit"


def test_unwritable_cache_folder_still_loads_and_says_so(tmp_path):
    root = tmp_path / "s"
    root.mkdir()
    sf.write(root / "a.wav", tone(440, 0.3, SR), SR)
    blocker = tmp_path / "a_file"
    blocker.write_text("the cache folder cannot be created under a file")
    with pytest.warns(cache.CacheWarning, match="could not write"):
        ds = load_folder(root, CONFIG, progress=False, cache_dir=blocker / "cache")
    reference = load_folder(root, CONFIG, progress=False, cache_dir=False)
    assert ds.info["cache"] == "unwritable" and reference.info["cache"] == "off"
    np.testing.assert_array_equal(ds.magnitudes, reference.magnitudes)


def test_code_fingerprint_follows_source_edits(tmp_path, monkeypatch):
    # An edit to the analysis code (say, the pitch tracker) must invalidate cached frames.
    (tmp_path / "fake_analysis_mod.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = cache.code_fingerprint("fake_analysis_mod", "vaesynth.datasets.pitch")
    assert cache.code_fingerprint("fake_analysis_mod", "vaesynth.datasets.pitch") == before
    (tmp_path / "fake_analysis_mod.py").write_text("X = 2\n")
    assert cache.code_fingerprint("fake_analysis_mod", "vaesynth.datasets.pitch") != before
