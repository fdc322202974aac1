"""Allocation-free inverse real FFT for numba kernels (numba cannot call numpy.fft).

Radix-2 iterative complex FFT of size n_fft/2 on separate real/imaginary float64 arrays, plus the standard
packing that turns a half-length complex transform into a length-n_fft real one. Tables (bit reversal,
twiddles) are built once by `IrfftPlan`; the kernels only read them, so they are safe in the audio thread.
Matches `numpy.fft.irfft(X, n_fft)` to ~1e-12 (tests/synth/test_istft.py).
"""

from __future__ import annotations

import numba
import numpy as np


class IrfftPlan:
    """Tables for `irfft_kernel` of one size.

    n_fft: power of two >= 4. Attributes: bitrev int64 [n_fft/2], tw_re/tw_im float64 [n_fft/2 - 1] (inverse
    twiddles e^{+i pi j / hs} of each stage of half-size hs, stored at [hs - 1 + j]),
    post_re/post_im float64 [n_fft/2] (e^{+2 pi i k / n_fft}),
    scratch_re/scratch_im float64 [n_fft/2].
    Real-time safe: no (construct in __init__ of a renderer).
    """

    def __init__(self, n_fft: int):
        if n_fft < 4 or n_fft & (n_fft - 1):
            raise ValueError(f"n_fft must be a power of two >= 4, got {n_fft}")
        half = n_fft // 2
        self.n_fft = n_fft
        bits = half.bit_length() - 1
        idx = np.arange(half)
        rev = np.zeros(half, dtype=np.int64)
        for b in range(bits):
            rev |= ((idx >> b) & 1) << (bits - 1 - b)
        self.bitrev = rev
        # Per-stage twiddles laid out contiguously: stage with half-size hs uses [hs - 1, 2 hs - 1).
        tw = np.zeros(max(half - 1, 1), dtype=np.complex128)
        hs = 1
        while hs < half:
            tw[hs - 1 : 2 * hs - 1] = np.exp(1j * np.pi * np.arange(hs) / hs)
            hs *= 2
        self.tw_re = tw.real.copy()
        self.tw_im = tw.imag.copy()
        k2 = np.arange(half)
        self.post_re = np.cos(2 * np.pi * k2 / n_fft)
        self.post_im = np.sin(2 * np.pi * k2 / n_fft)
        self.scratch_re = np.zeros(half)
        self.scratch_im = np.zeros(half)


@numba.njit(nogil=True, cache=True, fastmath=False)
def irfft_kernel(spec_re, spec_im, out, bitrev, tw_re, tw_im, post_re, post_im, z_re, z_im):
    """out[:n_fft] = irfft(spec_re + i spec_im, n_fft) (numpy's normalisation: 1/n_fft).

    spec_re, spec_im: float64 [n_fft/2 + 1] (imaginary parts of bins 0 and n_fft/2 are ignored, as numpy
    does). out: float64 [>= n_fft], overwritten. Tables from `IrfftPlan`; z_re/z_im: its scratch.
    Real-time safe: yes.
    """
    half = z_re.shape[0]
    # Pack: Z[k] = Xe[k] + i Xo[k], where Xe/Xo are the DFTs of the even/odd output samples.
    for k in range(half):
        a_re = spec_re[k]
        a_im = spec_im[k] if k > 0 else 0.0
        m = half - k
        b_re = spec_re[m]
        b_im = -spec_im[m] if m < half else 0.0  # conj(X[half - k])
        if m == half:
            b_im = 0.0
        e_re = 0.5 * (a_re + b_re)
        e_im = 0.5 * (a_im + b_im)
        d_re = 0.5 * (a_re - b_re)
        d_im = 0.5 * (a_im - b_im)
        o_re = d_re * post_re[k] - d_im * post_im[k]
        o_im = d_re * post_im[k] + d_im * post_re[k]
        j = bitrev[k]
        z_re[j] = e_re - o_im
        z_im[j] = e_im + o_re
    # Iterative radix-2 inverse FFT (positive exponent), bit-reversed input. First stage: twiddle 1.
    for p in range(0, half - 1, 2):
        ar = z_re[p]
        ai = z_im[p]
        br = z_re[p + 1]
        bi = z_im[p + 1]
        z_re[p] = ar + br
        z_im[p] = ai + bi
        z_re[p + 1] = ar - br
        z_im[p + 1] = ai - bi
    size = 4
    while size <= half:
        hs = size // 2
        off = hs - 1
        for start in range(0, half, size):
            for j in range(hs):
                wr = tw_re[off + j]
                wi = tw_im[off + j]
                p = start + j
                q = p + hs
                tr = z_re[q] * wr - z_im[q] * wi
                ti = z_re[q] * wi + z_im[q] * wr
                z_re[q] = z_re[p] - tr
                z_im[q] = z_im[p] - ti
                z_re[p] += tr
                z_im[p] += ti
        size *= 2
    scale = 1.0 / half
    for n in range(half):
        out[2 * n] = z_re[n] * scale
        out[2 * n + 1] = z_im[n] * scale
