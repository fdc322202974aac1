"""Phase reconstruction quality and cost: random phase, RTPGHI (0/1 hop look-ahead), fast Griffin-Lim.

Spectral convergence (DESIGN.md definition, dB, lower is better) of the re-analysed reconstruction from the
magnitudes of harmonic + vibrato test signals, and the cost per frame. Run:
    .venv/bin/python benchmarks/bench_phase.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from vaesynth.synth.config import SpectralConfig
from vaesynth.synth.griffinlim import fgla
from vaesynth.synth.rtpghi import RtpghiState, random_phase, rtpghi
from vaesynth.synth.spectral import istft, magnitude, stft


def vibrato_tone(
    sample_rate: int, seconds: float, f0_hz: float, n_partials: int, depth_cents: float, rate_hz: float = 5.5
) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f = f0_hz * 2 ** (depth_cents / 1200 * np.sin(2 * np.pi * rate_hz * t))
    ph = 2 * np.pi * np.cumsum(f) / sample_rate
    ks = [k for k in range(1, n_partials + 1) if k * f0_hz * 1.05 < sample_rate / 2]
    return 0.3 * sum(np.sin(k * ph) / k for k in ks)


def sc_db(mags, phase, config):
    n = (len(mags) - 1) * config.hop_length
    y = istft(mags * np.exp(1j * phase), config, n_samples=n)
    m2 = np.abs(stft(y, config))
    return float(20 * np.log10(np.linalg.norm(mags - m2) / np.linalg.norm(mags)))


def rtpghi_us_per_frame(mags, config, lookahead):
    """Median cost of one streaming RTPGHI step (kernel + state handling), microseconds."""
    st = RtpghiState(config.n_fft, config.hop_length, lookahead=lookahead)
    out = np.zeros(config.n_bins)
    times = []
    for t in range(len(mags)):
        t0 = time.perf_counter()
        st.push(mags[t], out)
        times.append(time.perf_counter() - t0)
    return float(np.median(times[3:]) * 1e6)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer iterations and shorter signals")
    args = ap.parse_args()
    seconds = 1.0 if args.quick else 2.0
    long_iter = 50 if args.quick else 100
    cases = [
        (
            "220 Hz saw, 30 c vibrato",
            SpectralConfig(22050, 1024, 256),
            dict(f0_hz=220, n_partials=20, depth_cents=30),
        ),
        (
            "110 Hz saw, 50 c vibrato",
            SpectralConfig(48000, 2048, 256),
            dict(f0_hz=110, n_partials=40, depth_cents=50),
        ),
        (
            "110 Hz saw, 50 c vibrato",
            SpectralConfig(48000, 2048, 512),
            dict(f0_hz=110, n_partials=40, depth_cents=50),
        ),
    ]
    print(
        "spectral convergence (dB, lower is better) and cost per frame; 2-core machine shared with other jobs"
    )
    print(f"{'signal':26s} {'sr/n_fft/hop':>16s} {'method':28s} {'SC dB':>8s} {'us/frame':>10s}")
    for name, cfg, kw in cases:
        x = vibrato_tone(cfg.sample_rate, seconds, **kw)
        mags = magnitude(x, cfg).astype(np.float64)
        nf = len(mags)
        rows = []
        rows.append(("random phase", sc_db(mags, random_phase(mags.shape), cfg), float("nan")))
        for la in (0, 1):
            p = rtpghi(mags, cfg, lookahead=la)
            rows.append((f"RTPGHI look-ahead {la}", sc_db(mags, p, cfg), rtpghi_us_per_frame(mags, cfg, la)))
        p_rt = rtpghi(mags, cfg, lookahead=1)
        for n_iter in (32, long_iter):
            t0 = time.perf_counter()
            p = fgla(mags, cfg, n_iter=n_iter)
            dt = time.perf_counter() - t0
            rows.append((f"FGLA {n_iter} it. (zero phase)", sc_db(mags, p, cfg), dt / nf * 1e6))
        for n_iter in (32, long_iter):
            t0 = time.perf_counter()
            p = fgla(mags, cfg, n_iter=n_iter, init_phase=p_rt)
            dt = time.perf_counter() - t0
            rows.append((f"FGLA {n_iter} it. from RTPGHI", sc_db(mags, p, cfg), dt / nf * 1e6))
        tag = f"{cfg.sample_rate}/{cfg.n_fft}/{cfg.hop_length}"
        for method, sc, us in rows:
            us_s = "-" if np.isnan(us) else f"{us:.0f}"
            print(f"{name:26s} {tag:>16s} {method:28s} {sc:8.1f} {us_s:>10s}")


if __name__ == "__main__":
    main()
