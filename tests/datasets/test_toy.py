"""The toy datasets measured against the seeds' formulas (datasets/toy*.py) and against scipy references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from scipy.special import jv

from vaesynth.datasets import toy_additive4, toy_fm5, toy_harmonic, toy_richness
from vaesynth.datasets import toy_render as tr
from vaesynth.datasets.spec import load_dataset
from vaesynth.datasets.toy import FACTOR_NAMES, TOY_NAMES, make_toy
from vaesynth.errors import UserError
from vaesynth.synth.config import SpectralConfig
from vaesynth.synth.filters import (
    biquad_response,
    ladder_coefficient,
    ladder_linear_coefficients,
    ladder_max_feedback,
    ladder_pole_radius,
    moog_ladder,
    rbj_lowpass_coefficients,
)
from vaesynth.synth.spectral import analysis_window, magnitude

CONFIG = SpectralConfig()
SR = CONFIG.sample_rate

# INTERFACE.md, "Dataset specs", verbatim.
INTERFACE_FACTORS = {
    "harmonic": ["f0_hz", "inharmonicity", "slope", "parity", "snr_db", "decay"],
    "richness": ["richness"],
    "additive4": ["inharmonicity", "n_harmonics", "filter_q", "filter_hz"],
    "fm5": ["carrier", "ratio", "index", "filter_q", "filter_hz"],
}


def partial_amplitude(
    frame: np.ndarray, f_hz: float, config: SpectralConfig = CONFIG, half_width: int = 3
) -> float:
    """Sinusoid amplitude from the energy of the window's main lobe around f_hz (immune to scalloping).

    A sin at amplitude A puts (A/2)^2 n_fft sum(w^2) into the one-sided spectrum (Parseval).
    """
    k = int(round(f_hz / config.bin_hz))
    energy = np.sum(np.square(frame[max(k - half_width, 0) : k + half_width + 1].astype(np.float64)))
    return 2.0 * np.sqrt(energy / (config.n_fft * np.sum(analysis_window(config) ** 2)))


def peak_bin_near(frame: np.ndarray, f_hz: float, config: SpectralConfig = CONFIG, search: int = 2) -> int:
    k = int(round(f_hz / config.bin_hz))
    lo = max(k - search, 0)
    return lo + int(np.argmax(frame[lo : k + search + 1]))


def db(x):
    return 20.0 * np.log10(x)


# ---------------------------------------------------------------------------------------------------------
# Shared machinery


def test_analyse_frames_matches_spectral_magnitude():
    rng = np.random.default_rng(0)
    n = 8 * CONFIG.hop_length + CONFIG.n_fft
    x = np.sin(2 * np.pi * 441.7 * np.arange(n) / SR) + 0.1 * rng.standard_normal(n)
    ref = magnitude(x, CONFIG)
    half = CONFIG.n_fft // 2
    frames = np.arange(2, 8)
    segments = np.stack([x[t * CONFIG.hop_length - half : t * CONFIG.hop_length + half] for t in frames])
    np.testing.assert_allclose(tr.analyse_frames(segments, CONFIG), ref[frames], rtol=1e-6, atol=1e-6)


def test_additive_bank_matches_numpy_sin():
    rng = np.random.default_rng(1)
    freqs = rng.uniform(20, 20000, (3, 7))
    amps = rng.uniform(0, 1, (3, 7))
    amps[1, 2] = 0.0
    phases = rng.uniform(-np.pi, np.pi, (3, 7))
    start, n = -1234, 5000
    t = (start + np.arange(n)) / SR
    ref = np.sum(amps[..., None] * np.sin(2 * np.pi * freqs[..., None] * t + phases[..., None]), axis=1)
    out = tr.additive_bank(freqs, amps, phases, start, float(SR), np.empty((3, n)))
    np.testing.assert_allclose(out, ref, atol=1e-9)


def test_choose_sounds_subset_grid_or_continuous():
    grid = np.arange(10.0)[:, None]
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(tr.choose_sounds(10, grid, None, rng), grid)
    sub = tr.choose_sounds(4, grid, None, rng)[:, 0]
    assert len(set(sub)) == 4 and np.all(np.diff(sub) > 0) and set(sub) <= set(grid[:, 0])
    more = tr.choose_sounds(25, grid, lambda n, r: r.uniform(0, 9, (n, 1)), rng)
    assert more.shape == (25, 1) and len(np.unique(more)) == 25 and more.min() >= 0 and more.max() <= 9


@pytest.mark.parametrize("module", [toy_harmonic, toy_richness, toy_additive4, toy_fm5])
def test_continuous_draws_stay_in_the_grid_ranges(module):
    # sizes beyond the grid draw factors uniformly over its ranges; count-like factors stay integers
    grid = module.grid()
    draws = module.draw_continuous(2000, np.random.default_rng(0))
    lo, hi = grid.min(0), grid.max(0)
    assert draws.shape == (2000, grid.shape[1]) and np.all(draws >= lo) and np.all(draws <= hi)
    span = (draws.max(0) - draws.min(0)) / np.where(hi > lo, hi - lo, 1.0)
    assert np.all(span > 0.95)  # the whole range is covered
    names = module.FACTOR_NAMES
    for name in ("parity", "n_harmonics"):
        if name in names:
            col = draws[:, names.index(name)]
            assert np.all(col == np.round(col))


# ---------------------------------------------------------------------------------------------------------
# API contract


def test_make_toy_unknown_name_lists_the_four():
    with pytest.raises(UserError) as e:
        make_toy("sawtooth", progress=False)
    msg = str(e.value)
    assert "\n" not in msg and all(f"toy:{n}" in msg for n in ("harmonic", "richness", "additive4", "fm5"))
    with pytest.raises(UserError):
        make_toy("richness", size=0, progress=False)


def test_make_toy_progress_bar_goes_to_stderr(capsys):
    make_toy("richness", size=8, progress=True)
    out, err = capsys.readouterr()
    assert out == "" and "toy:richness" in err
    make_toy("richness", size=8, progress=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("name", ["harmonic", "richness", "additive4", "fm5"])
def test_factor_names_and_ranges_match_interface(name):
    assert name in TOY_NAMES and FACTOR_NAMES[name] == INTERFACE_FACTORS[name]
    d = load_dataset(f"toy:{name}", seed=2, size=40, progress=False)
    assert d.name == f"toy:{name}" and d.factor_names == INTERFACE_FACTORS[name]
    assert (
        d.n_frames == 40 and d.magnitudes.shape == (40, CONFIG.n_bins) and np.all(np.isfinite(d.magnitudes))
    )
    module = {"harmonic": toy_harmonic, "richness": toy_richness, "additive4": toy_additive4, "fm5": toy_fm5}[
        name
    ]
    grid = module.grid()
    assert np.all(d.factors >= grid.min(0).astype(np.float32)) and np.all(
        d.factors <= grid.max(0).astype(np.float32)
    )
    # every frame's factor row is a grid point (a random subset of the seed's grid)
    assert np.all(
        np.min(np.abs(d.factors[:, None, :] - grid[None, :, :].astype(np.float32)).max(-1), axis=1) == 0
    )


def test_grids_are_the_seeds():
    g = toy_harmonic.grid()
    assert len(g) == 19 * 5 * 9 * 3 * 4 * 4
    np.testing.assert_array_equal(np.unique(g[:, 0]), np.arange(100, 1001, 50))
    np.testing.assert_allclose(np.unique(g[:, 2]), -0.1 * np.arange(9, 0, -1))
    assert len(toy_richness.grid()) == 10_000 and toy_richness.grid().max() == toy_richness.N_HARMONICS - 1
    g = toy_additive4.grid()
    assert len(g) == 20_000 and g[:, 0].max() == pytest.approx(0.002) and set(g[:, 1]) == set(range(2, 41, 2))
    np.testing.assert_allclose(np.unique(g[:, 3]), np.arange(1, 11) * 44100 / 200)
    g = toy_fm5.grid()
    assert len(g) == 44_800  # seed 001: "(1025, 44 800) matrix"
    np.testing.assert_allclose(np.unique(g[:, 1]), [0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4])
    np.testing.assert_array_equal(np.unique(g[:, 2]), np.arange(0, 30, 4))


@pytest.mark.parametrize("name", ["harmonic", "richness", "additive4", "fm5"])
def test_make_toy_is_deterministic_for_a_seed(name):
    a = make_toy(name, seed=7, size=16, progress=False)
    b = make_toy(name, seed=7, size=16, progress=False)
    c = make_toy(name, seed=8, size=16, progress=False)
    for field in ("magnitudes", "factors", "f0_hz", "loudness_db", "groups"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.magnitudes, c.magnitudes)


# ---------------------------------------------------------------------------------------------------------
# toy:harmonic


def harmonic_sound(f0=300.0, b=0.0, slope=-0.1, parity=0, snr_db=60.0, decay=0.0, seed=0):
    factors = np.array([[f0, b, slope, parity, snr_db, decay]])
    mags, loud = toy_harmonic.render(factors, CONFIG, np.random.default_rng(seed))
    return mags[0], loud[0]


@pytest.mark.parametrize("f0, b", [(200.0, 0.005), (1000.0, 0.002), (100.0, 0.0)])
def test_harmonic_peaks_match_inharmonic_formula(f0, b):
    frames, _ = harmonic_sound(f0=f0, b=b, slope=-0.1)
    for n in range(1, 11):
        f_n = n * f0 * np.sqrt(1 + (n * n - 1) * b)
        assert abs(peak_bin_near(frames[0], f_n) - f_n / CONFIG.bin_hz) <= 1.0, (n, f_n)


def test_harmonic_dataset_frames_show_their_labelled_partials():
    d = make_toy("harmonic", seed=3, size=96, progress=False)
    assert np.all(d.f0_hz == d.factors[:, 0])
    for sound in np.unique(d.groups):  # a sound's frames share one factor row
        assert np.all(d.factors[d.groups == sound] == d.factors[d.groups == sound][0])
    checked = 0
    for frame, row in zip(d.magnitudes, d.factors, strict=True):
        if row[4] < 20:
            continue
        freqs, amps = toy_harmonic.partials(row[None].astype(np.float64), SR)
        for f_n, a_n in zip(freqs[0], amps[0], strict=True):
            if a_n >= 0.2 and f_n + 3 * CONFIG.bin_hz < SR / 2:
                assert abs(peak_bin_near(frame, f_n) - f_n / CONFIG.bin_hz) <= 1.0
                checked += 1
    assert checked > 100


def test_harmonic_parity_odd_and_even():
    n = np.arange(1, 11)
    odd_frame = harmonic_sound(f0=300.0, parity=1)[0][0]
    levels = np.array([db(partial_amplitude(odd_frame, k * 300.0)) for k in n])
    assert levels[1::2].max() <= levels[0::2].min() - 40.0  # even harmonics absent
    even_frame = harmonic_sound(f0=300.0, parity=2)[0][0]
    levels = np.array([db(partial_amplitude(even_frame, k * 300.0)) for k in n])
    assert levels[2::2].max() <= levels[1::2].min() - 40.0  # odd harmonics above the fundamental absent
    assert levels[0] >= levels[1::2].max()  # the fundamental stays (A_1 is the largest)


@pytest.mark.parametrize("slope", [-0.1, -0.3, -0.5])
def test_harmonic_slope_matches_linear_amplitudes(slope):
    frame = harmonic_sound(f0=400.0, slope=slope)[0][0]
    a1 = partial_amplitude(frame, 400.0)
    for n in range(2, 11):
        expected = 1 + slope * (n - 1)
        measured = partial_amplitude(frame, n * 400.0) / a1
        if expected >= 0.1:
            assert db(measured) == pytest.approx(db(expected), abs=0.25), n
        elif expected <= 0:
            assert measured < 1e-3


def test_harmonic_level_is_reference_rms_at_onset():
    _, loud = harmonic_sound(f0=500.0, slope=-0.2, snr_db=60.0)
    assert loud[0] == pytest.approx(db(tr.REFERENCE_RMS), abs=0.3)


@pytest.mark.parametrize("snr_db", [10.0, 20.0, 40.0])
def test_harmonic_snr_measured_matches_request(snr_db):
    frames, _ = harmonic_sound(f0=300.0, slope=-0.5, snr_db=snr_db, seed=4)  # partials at 300, 600, 900 Hz
    power = np.square(frames.astype(np.float64))
    noise_bins = np.arange(int(900 / CONFIG.bin_hz) + 25, CONFIG.n_bins - 1)
    noise_energy = power[:, noise_bins].mean(axis=1).mean() * CONFIG.n_bins
    total_energy = power.sum(axis=1).mean()
    measured = 10 * np.log10((total_energy - noise_energy) / noise_energy)
    assert measured == pytest.approx(snr_db, abs=1.0)


@pytest.mark.parametrize("decay", [0.0, 5.0, 10.0])
def test_harmonic_decay_frames_lose_level_at_requested_rate(decay):
    frames, loud = harmonic_sound(f0=250.0, slope=-0.2, snr_db=60.0, decay=decay)
    t_s = np.arange(len(loud)) * CONFIG.hop_length / SR
    expected_db_per_s = -20 * np.log10(np.e) * decay
    for level in (loud, db(np.linalg.norm(frames.astype(np.float64), axis=1))):
        slope = np.polyfit(t_s, level, 1)[0]
        assert slope == pytest.approx(expected_db_per_s, rel=0.03, abs=2.0)  # abs: 0.16 dB over 8 frames


# ---------------------------------------------------------------------------------------------------------
# toy:richness


def test_richness_energy_above_fundamental_is_monotone_and_matches_formula():
    d = make_toy("richness", seed=1, size=120, progress=False)
    order = np.argsort(d.factors[:, 0])
    r = d.factors[order, 0].astype(np.float64)
    power = np.square(d.magnitudes[order].astype(np.float64))
    cut = int(1.5 * toy_richness.F0_HZ / CONFIG.bin_hz)
    fraction = power[:, cut:].sum(1) / power.sum(1)
    assert np.all(np.diff(fraction) >= -1e-4)
    amps = toy_richness.harmonic_amplitudes(r)
    expected = np.sum(amps[:, 1:] ** 2, 1) / np.sum(amps**2, 1)
    np.testing.assert_allclose(fraction, expected, atol=0.01)
    np.testing.assert_allclose(d.loudness_db, db(tr.REFERENCE_RMS), atol=0.3)  # constant energy (seed 001)


def test_richness_fades_harmonics_in_one_after_another():
    mags, _ = toy_richness.render(np.array([[0.0], [1.0], [2.5]]), CONFIG)
    levels = np.array([[db(partial_amplitude(m, n * 220.0)) for n in range(1, 6)] for m in mags])
    rel = levels - levels[:, :1]
    absent = -55.0  # the Hann window's leakage from the partials 10 bins away stays below this
    assert np.all(rel[0, 1:] < absent)  # a pure sine
    assert rel[1, 1] == pytest.approx(db(1 / 2), abs=0.2) and np.all(rel[1, 2:] < absent)
    assert rel[2, 2] == pytest.approx(db(1 / 3), abs=0.2)
    assert rel[2, 3] == pytest.approx(db(0.5 / 4), abs=0.2) and rel[2, 4] < absent


# ---------------------------------------------------------------------------------------------------------
# toy:additive4


@pytest.mark.parametrize("cutoff_hz", [220.5, 1000.0, 2205.0])
def test_rbj_lowpass_matches_scipy_butter_and_gain_q(cutoff_hz):
    b, a = rbj_lowpass_coefficients(cutoff_hz, 1 / np.sqrt(2), SR)
    b_ref, a_ref = scipy.signal.butter(2, cutoff_hz, fs=SR)
    np.testing.assert_allclose(b, b_ref, rtol=1e-9)
    np.testing.assert_allclose(a, a_ref, rtol=1e-9, atol=1e-12)
    for q in (1.0, 5.0, 10.0):
        b, a = rbj_lowpass_coefficients(cutoff_hz, q, SR)
        freqs = np.array([50.0, cutoff_hz, 3 * cutoff_hz])
        _, h_ref = scipy.signal.freqz(b, a, worN=freqs, fs=SR)
        np.testing.assert_allclose(biquad_response(b, a, freqs, SR), h_ref, rtol=1e-10)
        assert abs(h_ref[1]) == pytest.approx(q, rel=1e-9)  # RBJ: |H(f0)| = Q


def test_additive4_partials_follow_biquad_response():
    b_inh, n_harm, q, fc = 0.001, 20, 5.0, 661.5
    mags, _ = toy_additive4.render(np.array([[b_inh, n_harm, q, fc]]), CONFIG)
    b, a = rbj_lowpass_coefficients(fc, q, SR)
    n = np.arange(1, n_harm + 1)
    f_n = n * 110.0 * np.sqrt(1 + (n * n - 1) * b_inh)
    _, h = scipy.signal.freqz(b, a, worN=f_n, fs=SR)
    expected = np.abs(h) / n
    measured = np.array([partial_amplitude(mags[0], f, half_width=2) for f in f_n])
    ok = expected / expected.max() > 1e-3
    np.testing.assert_allclose(db(measured[ok] / measured[0]), db(expected[ok] / expected[0]), atol=0.3)
    for f in f_n[ok]:
        assert abs(peak_bin_near(mags[0], f) - f / CONFIG.bin_hz) <= 1.0


def test_additive4_steady_state_matches_scipy_lfilter():
    b_inh, n_harm, q, fc = 0.002, 40, 10.0, 220.5  # the slowest transient of the grid
    n_pre = 2 * SR
    t = np.arange(-n_pre, CONFIG.n_fft) / SR
    n = np.arange(1, n_harm + 1)[:, None]
    f_n = n * 110.0 * np.sqrt(1 + (n * n - 1) * b_inh)
    x = np.sum(np.sin(2 * np.pi * f_n * t) / n, axis=0)
    b, a = rbj_lowpass_coefficients(fc, q, SR)
    y = scipy.signal.lfilter(b, a, x)[n_pre:]
    ref = tr.analyse_frames(y, CONFIG)
    mags, _ = toy_additive4.render(np.array([[b_inh, n_harm, q, fc]]), CONFIG)
    np.testing.assert_allclose(mags[0] / mags[0].max(), ref / ref.max(), atol=1e-4)


def test_additive4_inharmonic_peaks_up_to_40th_partial():
    b_inh = 0.002
    mags, _ = toy_additive4.render(np.array([[b_inh, 40, 1.0, 2205.0]]), CONFIG)
    for n in range(1, 41):
        f_n = n * 110.0 * np.sqrt(1 + (n * n - 1) * b_inh)
        assert abs(peak_bin_near(mags[0], f_n) - f_n / CONFIG.bin_hz) <= 1.0, n


# ---------------------------------------------------------------------------------------------------------
# toy:fm5 and the ladder


def test_fm_voices_sidebands_match_bessel():
    carrier_hz, ratio, index = 2000.0, 0.15, 2.0
    x = toy_fm5.fm_voices(np.full(3, carrier_hz), ratio, index, 0, float(SR), np.empty(CONFIG.n_fft))
    frame = tr.analyse_frames(x, CONFIG)
    for m in range(-4, 5):
        f = carrier_hz + m * ratio * carrier_hz
        assert abs(peak_bin_near(frame, f) - f / CONFIG.bin_hz) <= 1.0
        if abs(jv(m, index)) > 0.03:
            assert db(partial_amplitude(frame, f)) == pytest.approx(db(abs(jv(m, index))), abs=0.3), m


def test_fm_fast_sin_matches_numpy_sin():
    from numba import njit

    @njit
    def apply(x, out):
        for i in range(x.shape[0]):
            out[i] = toy_fm5._sin(x[i])
        return out

    # FM phases reach ~2 pi 400 Hz x 1.1 s; cover well beyond, plus the reduction's edges
    x = np.concatenate([np.random.default_rng(0).uniform(-1e4, 1e4, 100_000), np.pi * np.arange(-9, 10) / 2])
    np.testing.assert_allclose(apply(x, np.empty_like(x)), np.sin(x), rtol=0, atol=1e-9)


def test_fm5_spectral_peaks_lie_on_sideband_lines():
    config = SpectralConfig(n_fft=16384, hop_length=4096)  # 2.7 Hz bins resolve the three carriers' lines
    j, ratio, index = 4.5, 0.4, 4.0
    mags, _ = toy_fm5.render(np.array([[j, ratio, index, 1.0, 2205.0]]), config)
    carriers = toy_fm5.carriers_hz(np.array([j]))[0]
    lines = np.abs(carriers[:, None] * (1 + ratio * np.arange(-10, 11)[None, :])).ravel()
    peaks, _ = scipy.signal.find_peaks(mags[0])
    top = peaks[np.argsort(mags[0][peaks])[::-1][:12]]
    for k in top:
        assert np.min(np.abs(lines / config.bin_hz - k)) <= 1.0, k * config.bin_hz


@pytest.mark.parametrize("cutoff_hz", [220.5, 2205.0])
def test_moog_ladder_small_signal_matches_scipy_lfilter(cutoff_hz):
    g = float(ladder_coefficient(cutoff_hz, SR))
    k = 0.9 * float(ladder_max_feedback(g))
    x = 1e-4 * np.random.default_rng(0).standard_normal(8192)
    y = moog_ladder(x, g, k, np.zeros(4), np.empty_like(x))
    b, a = ladder_linear_coefficients(g, k)
    ref = scipy.signal.lfilter(b, a, x)
    np.testing.assert_allclose(y, ref, atol=1e-5 * np.abs(ref).max())


def test_moog_ladder_streaming_equals_offline():
    x = np.random.default_rng(1).uniform(-1.5, 1.5, 8193 + 8192 + 128 + 65 + 64 + 1)
    g, k = float(ladder_coefficient(800.0, SR)), 3.0
    whole = moog_ladder(x, g, k, np.zeros(4), np.empty_like(x))
    state, parts, start = np.zeros(4), [], 0
    for size in [1, 64, 65, 128, 8192, 8193]:
        parts.append(moog_ladder(x[start : start + size], g, k, state, np.empty(size)))
        start += size
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_ladder_max_feedback_is_the_stability_limit():
    g = ladder_coefficient(toy_fm5.FILTER_HZ, SR)
    k_max = ladder_max_feedback(g)
    assert np.all(ladder_pole_radius(g, 0.999 * k_max) < 1) and np.all(
        ladder_pole_radius(g, 1.001 * k_max) > 1
    )
    assert float(ladder_max_feedback(1e-6)) == pytest.approx(4.0, rel=1e-4)  # the analog ladder's limit


def test_fm5_filter_q_raises_the_resonance_peak():
    peaks = []
    for q in toy_fm5.FILTER_Q:
        g, k, _ = toy_fm5.ladder_settings(np.array([q]), np.array([1000.0]), SR)
        b, a = ladder_linear_coefficients(g[0], k[0])
        _, h = scipy.signal.freqz(b, a, worN=4096, fs=SR)
        peaks.append(db(np.abs(h).max() / np.abs(h[0])))
    assert peaks[0] == pytest.approx(0.0, abs=1e-6) and np.all(np.diff(peaks) > 0) and peaks[-1] > 10.0


def test_fm5_transient_is_skipped():
    # A longer pre-roll must not change the analysed frame: the transient is gone (below -80 dB).
    factors = np.array([[2.0, 0.25, 8.0, 10.0, 220.5]])  # the slowest-decaying filter of the grid
    g, k, preroll = toy_fm5.ladder_settings(factors[:, 3], factors[:, 4], float(SR))
    carriers = toy_fm5.carriers_hz(factors[:, 0])
    out = []
    for extra in (0, 2 * SR):
        out.append(
            toy_fm5._render_kernel(
                carriers,
                factors[:, 1].copy(),
                factors[:, 2].copy(),
                g,
                k,
                preroll + extra,
                float(SR),
                np.empty((1, CONFIG.n_fft)),
            )
        )
    assert np.max(np.abs(out[0] - out[1])) <= 1e-3 * np.max(np.abs(out[1]))
