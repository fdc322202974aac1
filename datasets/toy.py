"""The built-in synthetic datasets `toy:NAME` (INTERFACE.md), reproduced from the seed reports.

| name | seed | factors | default frames |
|---|---|---|---|
| `harmonic` | 000 s.2 | f0_hz, inharmonicity, slope, parity, snr_db, decay | 20,000 (2,500 sounds x 8) |
| `richness` | 001 s.2.1 | richness | 10,000 |
| `additive4` | 001 s.2.2 | inharmonicity, n_harmonics, filter_q, filter_hz | 20,000 (the seed's grid) |
| `fm5` | 001 s.2.2 | carrier, ratio, index, filter_q, filter_hz | 44,800 (the seed's grid) |

Each set's module (`toy_harmonic`, `toy_richness`, `toy_additive4`, `toy_fm5`) documents its formula, grid
and the readings we made of the seeds. Common to all: audio rendered at config.sample_rate, a steady-state
segment per sound analysed like `vaesynth.synth.spectral.magnitude`, every sound at the same RMS (-20 dBFS;
toy:harmonic's decay then lowers later frames), factors as physical values, `groups` = sound id,
`f0_hz` = the known fundamental per frame, `loudness_db` = RMS of each frame's samples.
`size` = number of frames: fewer than the grid holds draws a random subset of the grid's sounds, more draws
factors uniformly at random over the grid's ranges. Same seed -> bit-identical arrays.
"""

from __future__ import annotations

from vaesynth.datasets.base import Dataset
from vaesynth.errors import UserError
from vaesynth.synth.config import SpectralConfig

TOY_NAMES = ("harmonic", "richness", "additive4", "fm5")

FACTOR_NAMES = {
    "harmonic": ["f0_hz", "inharmonicity", "slope", "parity", "snr_db", "decay"],
    "richness": ["richness"],
    "additive4": ["inharmonicity", "n_harmonics", "filter_q", "filter_hz"],
    "fm5": ["carrier", "ratio", "index", "filter_q", "filter_hz"],
}


def _module(name: str):
    from vaesynth.datasets import toy_additive4, toy_fm5, toy_harmonic, toy_richness

    return {"harmonic": toy_harmonic, "richness": toy_richness, "additive4": toy_additive4, "fm5": toy_fm5}[
        name
    ]


def make_toy(
    name: str,
    config: SpectralConfig | None = None,
    seed: int = 0,
    size: int | None = None,
    progress: bool = True,
) -> Dataset:
    """Generate the toy dataset `toy:NAME`.

    name: one of TOY_NAMES (without the `toy:` prefix). config: analysis settings (default SpectralConfig():
    44.1 kHz, n_fft 2048, hop 512). seed: makes the draw (grid subset, noise) reproducible, bit for bit.
    size: number of frames (>= 1), None = the default in the table above. progress: tqdm bar on stderr.
    Returns a Dataset named `toy:NAME` with magnitudes, f0_hz, loudness_db, factors, factor_names, groups.
    Raises UserError for an unknown name or a bad size.
    """
    if name not in TOY_NAMES:
        raise UserError(
            f"unknown toy dataset {name!r}: choose one of " + ", ".join(f"toy:{n}" for n in TOY_NAMES)
        )
    if size is not None and (isinstance(size, bool) or int(size) != size or size < 1):
        raise UserError(f"toy:{name} size must be a positive number of frames, got {size!r}")
    config = SpectralConfig() if config is None else config
    fields = _module(name).make(config, int(seed), None if size is None else int(size), progress)
    info = {"generator": f"toy:{name}", "seed": int(seed), "size": size, **fields.pop("info")}
    return Dataset(config=config, name=f"toy:{name}", info=info, **fields)
