"""The checkpoint file: plain data round-trips exactly; foreign, truncated, future and code-carrying files are
refused with one line, and nothing in a file is ever executed. The torch-free reader (tensors="numpy", what
`vaesynth serve` uses) gives the same values and refuses the same files with the same message."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from vaesynth.errors import UserError
from vaesynth.models.checkpoint import (
    FORMAT,
    FORMAT_VERSION,
    TorchRequired,
    load_checkpoint,
    save_checkpoint,
)


def _payload():
    rng = np.random.default_rng(0)
    return {
        "model_config": {"arch": "mlp", "latent_dim": 4, "beta": 1.0},
        "model_state": {
            "enc.weight": torch.from_numpy(rng.standard_normal((8, 4)).astype(np.float32)),
            "enc.bias": torch.zeros(8),
        },
        "codec": {
            "mean": rng.standard_normal(5).astype(np.float32),
            "kind": "log",
            "n": np.int64(3),
            "ref_db": np.float64(-3.5),
        },
        "pca": None,
        "spectral_config": {"sample_rate": 44100, "n_fft": 16, "hop_length": 4, "window": "hann"},
        "factor_names": np.array(["a", "b"]),
        "history": {"train_loss": [1.0, 0.5]},
    }


class _CodeCarrier:
    """Unpickling this would create a file (code execution); a checkpoint loader must never do that."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


def _one_line_refusal(path, *words):
    """Both readers refuse `path` with the same one-line message, naming the file and `words`."""
    messages = []
    for tensors in ("torch", "numpy"):
        with pytest.raises(UserError) as e:
            load_checkpoint(path, tensors=tensors)
        messages.append(str(e.value))
    msg = messages[0]
    assert messages[1] == msg
    assert "\n" not in msg and str(path) in msg
    for w in words:
        assert w in msg, msg
    return msg


def test_checkpoint_roundtrip_matches_saved_values(tmp_path):
    p = save_checkpoint(tmp_path / "m.pt", _payload())
    d = load_checkpoint(p)
    assert d["format"] == FORMAT and d["format_version"] == FORMAT_VERSION
    ref = _payload()
    for k, v in ref["model_state"].items():
        assert torch.equal(d["model_state"][k], v)
    # numpy sections come back as numpy, bit-exact.
    assert isinstance(d["codec"]["mean"], np.ndarray)
    np.testing.assert_array_equal(d["codec"]["mean"], ref["codec"]["mean"])
    assert d["codec"]["n"] == 3 and d["codec"]["kind"] == "log" and d["codec"]["ref_db"] == -3.5
    assert d["factor_names"] == ["a", "b"]
    # The file is readable by plain torch.load(weights_only=True) (the INTERFACE.md promise).
    raw = torch.load(p, weights_only=True)
    assert raw["history"]["train_loss"] == [1.0, 0.5]


def test_torch_free_load_matches_the_torch_load(tmp_path):
    p = save_checkpoint(tmp_path / "m.pt", _payload())
    ref = load_checkpoint(p)
    got = load_checkpoint(p, tensors="numpy")
    assert got.keys() == ref.keys()
    for k, v in ref["model_state"].items():
        assert isinstance(got["model_state"][k], np.ndarray)
        np.testing.assert_array_equal(got["model_state"][k], v.numpy())
        assert got["model_state"][k].dtype == v.numpy().dtype
    np.testing.assert_array_equal(got["codec"]["mean"], ref["codec"]["mean"])
    for k in (
        "format",
        "format_version",
        "model_config",
        "spectral_config",
        "factor_names",
        "history",
        "pca",
    ):
        assert got[k] == ref[k], k
    assert {k: v for k, v in got["codec"].items() if k != "mean"} == {
        k: v for k, v in ref["codec"].items() if k != "mean"
    }


def test_torch_free_load_hands_content_only_torch_reads_back_to_torch(tmp_path):
    payload = _payload()
    payload["model_state"]["half"] = torch.ones(3, dtype=torch.bfloat16)  # numpy has no bfloat16
    p = save_checkpoint(tmp_path / "m.pt", payload)
    assert load_checkpoint(p)["model_state"]["half"].dtype == torch.bfloat16
    with pytest.raises(TorchRequired, match="BFloat16Storage"):
        load_checkpoint(p, tensors="numpy")


def test_save_refuses_objects_that_weights_only_load_could_not_read(tmp_path):
    bad = _payload()
    bad["codec"]["obj"] = object()
    with pytest.raises(TypeError):
        save_checkpoint(tmp_path / "m.pt", bad)
    assert not (tmp_path / "m.pt").exists()


def test_save_is_atomic_previous_file_survives_a_failed_save(tmp_path):
    p = save_checkpoint(tmp_path / "m.pt", _payload())
    before = p.read_bytes()

    class Boom:
        pass

    bad = _payload()
    bad["history"] = {"x": Boom()}
    with pytest.raises(TypeError):
        save_checkpoint(p, bad)
    assert p.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["m.pt"]  # no temp file left behind


def test_code_carrying_pickle_is_refused_and_never_executed(tmp_path):
    target = tmp_path / "pwned"
    evil = {"format": FORMAT, "format_version": 1, "x": _CodeCarrier(target)}
    # Both a torch.save zip and a bare pickle: neither may run the payload.
    torch.save(evil, tmp_path / "evil.pt")
    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump(evil, f)
    # Sanity: a plain unpickle really would execute it (so the test can fail).
    with open(tmp_path / "evil.pkl", "rb") as f:
        pickle.load(f)  # noqa: S301 - deliberate, to prove the payload is live
    assert target.exists()
    target.unlink()
    for name in ("evil.pt", "evil.pkl"):
        _one_line_refusal(tmp_path / name, "not a vaesynth checkpoint")
        assert not target.exists()


def test_foreign_files_are_refused(tmp_path):
    torch.save({"state_dict": {"w": torch.zeros(2)}}, tmp_path / "other.pt")
    _one_line_refusal(tmp_path / "other.pt", "not a vaesynth checkpoint")
    (tmp_path / "notes.pt").write_text("these are not weights\n")
    _one_line_refusal(tmp_path / "notes.pt", "not a vaesynth checkpoint")
    _one_line_refusal(tmp_path / "missing.pt", "not found")
    os.mkdir(tmp_path / "dir.pt")
    _one_line_refusal(tmp_path / "dir.pt", "folder")


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.95])
def test_truncated_file_is_refused(tmp_path, fraction):
    p = save_checkpoint(tmp_path / "m.pt", _payload())
    data = p.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: int(len(data) * fraction)])
    _one_line_refusal(tmp_path / "cut.pt")


def test_future_format_version_is_refused(tmp_path):
    p = save_checkpoint(tmp_path / "m.pt", _payload())
    d = torch.load(p, weights_only=True)
    d["format_version"] = FORMAT_VERSION + 1
    torch.save(d, p)
    _one_line_refusal(p, "newer vaesynth", f"format {FORMAT_VERSION + 1}")
