"""The torch-free reader (models/torchzip.py): every value equals what torch.load(weights_only=True) returns,
for the bundled model, a tiny trained one and every tensor layout/dtype; everything torch's weights-only
loader refuses is refused too, and nothing in a file is ever executed."""

from __future__ import annotations

import io
import pickle
import tracemalloc
import warnings
import zipfile
from collections import Counter, OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.training.synthetic import tiny_config, write_npz
from vaesynth.models import torchzip
from vaesynth.models.instrument import default_model_path


def assert_same_tree(got, ref, where="root"):
    """got (numpy leaves) equals ref (torch.load's tensors) exactly: containers, order, dtypes, shapes,
    bits."""
    if isinstance(ref, torch.Tensor):
        assert isinstance(got, np.ndarray), where
        expected = ref.numpy()
        assert got.dtype == expected.dtype and got.shape == expected.shape, where
        assert got.flags.c_contiguous and got.flags.writeable, where
        np.testing.assert_array_equal(got, expected, err_msg=where)
        return
    assert type(got) is type(ref), f"{where}: {type(got)} != {type(ref)}"
    if isinstance(ref, dict):
        assert list(got) == list(ref), where
        for k in ref:
            assert_same_tree(got[k], ref[k], f"{where}/{k}")
    elif isinstance(ref, (list, tuple)):
        assert len(got) == len(ref), where
        for i, (g, r) in enumerate(zip(got, ref, strict=True)):
            assert_same_tree(g, r, f"{where}[{i}]")
    elif isinstance(ref, float) and ref != ref:
        assert got != got, where
    else:
        assert got == ref, where


def test_read_torch_file_matches_torch_load_for_the_bundled_model():
    path = default_model_path()
    assert_same_tree(torchzip.read_torch_file(path), torch.load(path, weights_only=True))


def test_read_torch_file_matches_torch_load_for_a_tiny_trained_model(tmp_path):
    from vaesynth.training.trainer import train

    path = train(tiny_config(write_npz(tmp_path), tmp_path / "m.pt", arch="harmonic", epochs=2))
    # A resumable checkpoint: optimizer state (ints, step tensors, lists) is in it too.
    assert_same_tree(torchzip.read_torch_file(path), torch.load(path, weights_only=True))


def test_every_layout_and_dtype_matches_torch_load(tmp_path):
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) * 0.37 - 2.0
    obj = {
        "contiguous": base,
        "transposed": base.T,  # strides (1, 6)
        "view_with_offset": base[1:, ::2],  # storage offset 6, strides (12, 2), shares base's storage
        "scalar": torch.tensor(3.25, dtype=torch.float64),
        "empty": torch.zeros(0, 3),
        "expanded": torch.tensor([1.0, 2.0]).expand(3, 2),  # stride 0
        "dtypes": [
            torch.tensor([1, -2, 3], dtype=dt)
            for dt in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8, torch.float16)
        ],
        "bool": torch.tensor([True, False, True]),
        "complex": torch.tensor([1 + 2j, -3j], dtype=torch.complex64),
        "nan_inf": torch.tensor([float("nan"), float("inf"), -float("inf")]),
        "plain": [None, True, False, 0, -1, 255, 65536, -(2**31), 2**70, -(2**70), 1.5e-300, "ü ✓", ()],
        "nested": OrderedDict(a=[{"b": (1, 2.0, "c")}]),
        "counter": Counter("abca"),
        "set": {1, 2, 3},
        "bytes": b"\x00\xffraw",
        "complex_scalar": 1.5 - 2j,
    }
    path = tmp_path / "layouts.pt"
    torch.save(obj, path)
    got = torchzip.read_torch_file(path)
    assert_same_tree(got, torch.load(path, weights_only=True))
    # Views come back as independent copies (writing one never changes another).
    got["view_with_offset"][0, 0] = 1e6
    assert got["contiguous"][1, 0] != 1e6


def test_a_path_saved_file_with_its_own_folder_name_reads(tmp_path):
    """torch.save(obj, path) names the zip's folder after the file; to a file object it is 'archive'."""
    path = tmp_path / "some-name.pt"
    torch.save({"w": torch.ones(3)}, path)
    buf = io.BytesIO()
    torch.save({"w": torch.ones(3)}, buf)
    (tmp_path / "from-buffer.pt").write_bytes(buf.getvalue())
    for p in (path, tmp_path / "from-buffer.pt"):
        np.testing.assert_array_equal(torchzip.read_torch_file(p)["w"], np.ones(3, np.float32))


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: torch.ones(2, dtype=torch.bfloat16), id="bfloat16"),
        pytest.param(lambda: torch.Size([2, 3]), id="torch.Size"),
        pytest.param(lambda: torch.float32, id="dtype"),
    ],
)
def test_content_only_torch_reads_asks_for_torch(tmp_path, make):
    """Allowed by torch's weights-only loader, not implemented here: NeedsTorch (the caller falls back)."""
    path = tmp_path / "x.pt"
    torch.save({"x": make()}, path)
    torch.load(path, weights_only=True)  # torch does read it
    with pytest.raises(torchzip.NeedsTorch):
        torchzip.read_torch_file(path)


class _CodeCarrier:
    """Unpickling this would create a file (code execution); a reader must never do that."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


def test_code_carrying_files_are_refused_and_never_executed(tmp_path):
    target = tmp_path / "pwned"
    evil = {"ok": torch.zeros(2), "x": _CodeCarrier(target)}
    torch.save(evil, tmp_path / "evil.pt")
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        with open(tmp_path / f"evil{protocol}.pkl", "wb") as f:
            pickle.dump({"x": _CodeCarrier(target)}, f, protocol=protocol)
    # Sanity: a plain unpickle really would execute it (so the test can fail).
    with open(tmp_path / "evil2.pkl", "rb") as f:
        pickle.load(f)  # noqa: S301 - deliberate, to prove the payload is live
    assert target.exists()
    target.unlink()
    for name in ("evil.pt", "evil2.pkl", f"evil{pickle.HIGHEST_PROTOCOL}.pkl"):
        with pytest.raises(pickle.UnpicklingError), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about protocol 5 before refusing
            torch.load(tmp_path / name, weights_only=True)  # torch refuses it as well
        with pytest.raises(torchzip.ForbiddenContent):
            torchzip.read_torch_file(tmp_path / name)
        assert not target.exists()


def _zip_with(tmp_path, pkl: bytes, records: dict[str, bytes], byteorder: str = "little") -> Path:
    """A torch-style zip with a hand-written data.pkl (to reach states torch.save never writes)."""
    path = tmp_path / "crafted.pt"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/byteorder", byteorder)
        z.writestr("archive/version", "3\n")
        for k, v in records.items():
            z.writestr(f"archive/data/{k}", v)
    return path


class _Storage:
    def __init__(self, numel):
        self.numel = numel


class _Tensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


def _pickle_tensor(t: _Tensor) -> bytes:
    class P(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _Storage):
                return ("storage", torch.FloatStorage, "0", "cpu", obj.numel)
            return None

    buf = io.BytesIO()
    P(buf, protocol=2).dump({"t": t})
    return buf.getvalue()


@pytest.mark.parametrize(
    "size, stride, numel, record_bytes",
    [
        pytest.param((100,), (1,), 4, 16, id="tensor-past-its-storage"),
        pytest.param((2, 2), (1, 3), 4, 16, id="strides-past-storage"),
        pytest.param((4,), (1,), 8, 16, id="record-shorter-than-storage"),
        pytest.param((4,), (1,), 4, 50_000_016, id="record-longer-than-storage"),
        pytest.param((4,), (1,), 4, None, id="record-missing"),
    ],
)
def test_inconsistent_tensors_are_refused_like_torch(tmp_path, size, stride, numel, record_bytes):
    pkl = _pickle_tensor(_Tensor(_Storage(numel), 0, size, stride))
    records = {} if record_bytes is None else {"0": np.zeros(record_bytes // 4, dtype="<f4").tobytes()}
    path = _zip_with(tmp_path, pkl, records)  # deflated: the 50 MB record is 50 kB on disk
    with pytest.raises(Exception):  # noqa: B017 - torch's own error types vary (RuntimeError, ...)
        torch.load(path, weights_only=True)
    tracemalloc.start()
    try:
        with pytest.raises(torchzip.CorruptFile):
            torchzip.read_torch_file(path)
        peak_bytes = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak_bytes < 5_000_000  # refused before inflating the oversized record


def test_a_consistent_crafted_tensor_reads_like_torch(tmp_path):
    """The crafting helper itself is right: a well-formed hand-made file reads equal to torch.load."""
    pkl = _pickle_tensor(_Tensor(_Storage(6), 1, (2, 2), (1, 2)))
    path = _zip_with(tmp_path, pkl, {"0": np.arange(6, dtype="<f4").tobytes()})
    assert_same_tree(torchzip.read_torch_file(path), torch.load(path, weights_only=True))


def test_big_endian_storages_read_in_native_order(tmp_path):
    pkl = _pickle_tensor(_Tensor(_Storage(3), 0, (3,), (1,)))
    path = _zip_with(tmp_path, pkl, {"0": np.array([1.5, -2.0, 3.0], dtype=">f4").tobytes()}, "big")
    ref = torch.load(path, weights_only=True)["t"].numpy()
    got = torchzip.read_torch_file(path)["t"]
    np.testing.assert_array_equal(got, ref)
    assert got.dtype == np.float32 and got.dtype.isnative


def test_foreign_text_and_damaged_files_are_refused(tmp_path):
    (tmp_path / "notes.pt").write_text("these are not weights\n")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as z:
        z.writestr("readme.txt", "hello")
    with open(tmp_path / "plain.pkl", "wb") as f:
        pickle.dump({"a": 1}, f, protocol=2)
    for name in ("notes.pt", "other.zip", "plain.pkl"):
        with pytest.raises(torchzip.NotTorchFile):
            torchzip.read_torch_file(tmp_path / name)
    torch.save({"w": torch.arange(1000.0)}, tmp_path / "ok.pt")
    data = (tmp_path / "ok.pt").read_bytes()
    for fraction in (0.1, 0.5, 0.95):
        (tmp_path / "cut.pt").write_bytes(data[: int(len(data) * fraction)])
        with pytest.raises(torchzip.CorruptFile):
            torchzip.read_torch_file(tmp_path / "cut.pt")
    # One flipped byte inside the tensor data: the zip's CRC catches it.
    at = data.index(np.arange(1000.0, dtype=np.float32)[500:502].tobytes())
    (tmp_path / "flipped.pt").write_bytes(data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :])
    with pytest.raises(torchzip.CorruptFile):
        torchzip.read_torch_file(tmp_path / "flipped.pt")
