"""Read a `torch.save` file without importing torch: tensors come back as numpy arrays.

Why: `vaesynth serve` decodes with numpy (models/npdecode.py) and never needs torch at run time, and importing
torch costs about a second of start-up (issue 5: "first sound possible within 2 s").

The format (torch >= 1.6, `_use_new_zipfile_serialization`): a zip whose records share one top folder
(`archive/` when saved to a file object, the file's stem when saved to a path):
    <top>/data.pkl        the object, pickled (protocol 2); each tensor is
                          torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, ...), its
                          storage a persistent id ("storage", torch.<Type>Storage, key, location, numel)
    <top>/data/<key>      the raw bytes of storage <key> (numel elements of the storage's dtype)
    <top>/byteorder       "little" or "big" (absent in old files: little)
    <top>/version         the record-format version ("3")
The pickle is run by a small interpreter of the same opcodes torch's weights_only unpickler accepts, with
the same limits (REDUCE/NEWOBJ only on allowed callables, BUILD only on an OrderedDict, SETITEM(S) only on
dicts, APPEND(S) only on lists, persistent ids only for storages): nothing in a file is ever executed.

Globals:
- supported here: the plain containers torch allows (OrderedDict, Counter, set, complex, bytearray,
  _codecs.encode for protocol-2 bytes), _rebuild_tensor(_v2)/_rebuild_parameter, and the typed storages
  whose dtype numpy has (Float, Double, Half, Long, Int, Short, Char, Byte, Bool, ComplexFloat/Double);
- other `torch.*` names (dtypes, torch.Size, bfloat16 storages, sparse/quantized tensors, ...) raise
  `NeedsTorch`: torch's own loader has to judge them (the caller falls back to it);
- every other global (a pickle that would run code, any foreign object) raises `ForbiddenContent`.
"""

from __future__ import annotations

import codecs
import io
import struct
import sys
import zipfile
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

# torch.save's first pickle in the pre-1.6 ("legacy") format: a file starting with it is a torch file that
# only torch reads.
LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
SUPPORTED_RECORD_VERSIONS = (1, 2, 3)
ZIP_LOCAL_HEADER = b"PK\x03\x04"

# torch.<Name>Storage -> numpy dtype (native order; the file's byteorder is applied when reading).
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
    "ComplexFloatStorage": np.complex64,
    "ComplexDoubleStorage": np.complex128,
}


class TorchZipError(Exception):
    """Base of this module's errors; the message is one line."""


class NotTorchFile(TorchZipError):
    """Not a file torch.save writes (a text file, a foreign zip, a bare pickle of plain data)."""


class CorruptFile(TorchZipError):
    """A torch zip that is truncated or damaged (missing central directory, bad CRC, short storage)."""


class ForbiddenContent(TorchZipError):
    """A pickle that names a global outside torch's weights-only family or uses a disallowed opcode: code or
    foreign objects, never executed."""


class NeedsTorch(TorchZipError):
    """Content torch's weights-only loader may accept but this reader does not implement."""


class _StorageType:
    """Stands for torch.<Name>Storage inside the pickle: its numpy dtype."""

    __slots__ = ("name", "dtype")

    def __init__(self, name: str, dtype):
        self.name = name
        self.dtype = np.dtype(dtype)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    return _strided(storage, storage_offset, size, stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _strided(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, hooks=None):
    if not isinstance(data, np.ndarray):
        raise ForbiddenContent("a parameter whose data is not a tensor")
    return data


def _encode(text, encoding="latin1"):
    """_codecs.encode as protocol-2 pickles use it for bytes (str -> bytes), nothing else."""
    if not isinstance(text, str) or not isinstance(encoding, str):
        raise ForbiddenContent("_codecs.encode on non-text")
    if codecs.lookup(encoding).name not in ("iso8859-1", "utf-8", "ascii"):
        raise ForbiddenContent(f"_codecs.encode with encoding {encoding!r}")
    return text.encode(encoding)


def _int_tuple(x, what: str) -> tuple[int, ...]:
    if not isinstance(x, (tuple, list)) or not all(type(v) is int for v in x):
        raise CorruptFile(f"tensor {what} is not a tuple of ints")
    return tuple(x)


def _strided(storage, storage_offset, size, stride) -> np.ndarray:
    """The tensor view of `storage` (a 1-D numpy array) as an owned, C-contiguous, writable copy."""
    if not isinstance(storage, np.ndarray) or storage.ndim != 1:
        raise ForbiddenContent("a tensor whose storage is not a storage record")
    if type(storage_offset) is not int or storage_offset < 0:
        raise CorruptFile("tensor storage offset is not a non-negative int")
    size, stride = _int_tuple(size, "size"), _int_tuple(stride, "stride")
    if len(size) != len(stride) or any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise CorruptFile("tensor size/stride do not match")
    if 0 in size:
        return np.zeros(size, dtype=storage.dtype)
    last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if last >= storage.shape[0]:
        raise CorruptFile(f"tensor reaches element {last} of a storage of {storage.shape[0]}")
    item = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[storage_offset:], shape=size, strides=tuple(s * item for s in stride), writeable=False
    )
    return np.array(view, order="C", copy=True)


# (module, name) -> what GLOBAL pushes. Callables among them may be REDUCEd; classes NEWOBJ'd.
_SUPPORTED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("collections", "Counter"): Counter,
    ("builtins", "set"): set,
    ("builtins", "complex"): complex,
    ("builtins", "bytearray"): bytearray,
    ("_codecs", "encode"): _encode,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}
_SUPPORTED.update({("torch", name): _StorageType(name, dt) for name, dt in STORAGE_DTYPES.items()})
_CALLABLE = tuple(v for v in _SUPPORTED.values() if not isinstance(v, _StorageType))


def _resolve_global(module: str, name: str):
    # Protocol 2 (torch.save's) writes Python 2 names (__builtin__.set): map them as pickle and torch do.
    if (module, name) in NAME_MAPPING:
        module, name = NAME_MAPPING[(module, name)]
    elif module in IMPORT_MAPPING:
        module = IMPORT_MAPPING[module]
    found = _SUPPORTED.get((module, name))
    if found is not None:
        return found
    if module == "torch" or module.startswith("torch."):
        raise NeedsTorch(f"the file uses {module}.{name}, which only torch reads")
    raise ForbiddenContent(f"the pickle names {module}.{name}")


class _Interpreter:
    """The opcodes torch's weights_only unpickler accepts (pickle protocol <= 2 plus the binary ones)."""

    def __init__(self, data: bytes, persistent_load):
        self._f = io.BytesIO(data)
        self._persistent_load = persistent_load
        self.memo: dict[int, Any] = {}

    def _read(self, n: int) -> bytes:
        b = self._f.read(n)
        if len(b) != n:
            raise CorruptFile("the pickle ends early")
        return b

    def load(self) -> Any:  # noqa: C901 - one branch per opcode, as in pickle.py
        read, readline = self._read, self._f.readline
        stack: list[Any] = []
        metastack: list[list[Any]] = []

        def pop_mark() -> list[Any]:
            nonlocal stack
            if not metastack:
                raise CorruptFile("pickle MARK stack underflow")
            items = stack
            stack = metastack.pop()
            return items

        while True:
            op = self._f.read(1)
            if not op:
                raise CorruptFile("the pickle ends without STOP")
            c = op[0]
            if c == 0x63:  # GLOBAL 'module\nname\n'
                module = readline()[:-1].decode("utf-8")
                name = readline()[:-1].decode("utf-8")
                stack.append(_resolve_global(module, name))
            elif c == 0x81:  # NEWOBJ
                args = stack.pop()
                cls = stack.pop()
                if not any(cls is t for t in (OrderedDict, Counter, set, complex, bytearray)):
                    raise ForbiddenContent(f"NEWOBJ of {cls!r}")
                stack.append(cls.__new__(cls, *args))
            elif c == 0x52:  # REDUCE
                args = stack.pop()
                func = stack[-1]
                if not any(func is f for f in _CALLABLE) or not isinstance(args, tuple):
                    raise ForbiddenContent(f"a call of {func!r}")
                stack[-1] = func(*args)
            elif c == 0x62:  # BUILD: only an OrderedDict's attributes (a state_dict's _metadata)
                state = stack.pop()
                inst = stack[-1]
                if type(inst) is not OrderedDict or not isinstance(state, dict):
                    raise ForbiddenContent(f"BUILD of a {type(inst).__name__}")
                inst.__dict__.update(state)
            elif c == 0x61:  # APPEND
                item = stack.pop()
                if type(stack[-1]) is not list:
                    raise ForbiddenContent("APPEND to a non-list")
                stack[-1].append(item)
            elif c == 0x65:  # APPENDS
                items = pop_mark()
                if type(stack[-1]) is not list:
                    raise ForbiddenContent("APPENDS to a non-list")
                stack[-1].extend(items)
            elif c in (0x73, 0x75):  # SETITEM, SETITEMS
                if c == 0x73:
                    v = stack.pop()
                    items = [stack.pop(), v]
                else:
                    items = pop_mark()
                target = stack[-1]
                if type(target) not in (dict, OrderedDict, Counter) or len(items) % 2:
                    raise ForbiddenContent("SETITEM on a non-dict")
                for i in range(0, len(items), 2):
                    target[items[i]] = items[i + 1]
            elif c == 0x28:  # MARK
                metastack.append(stack)
                stack = []
            elif c == 0x74:  # TUPLE
                items = pop_mark()
                stack.append(tuple(items))
            elif c == 0x85:  # TUPLE1
                stack[-1] = (stack[-1],)
            elif c == 0x86:  # TUPLE2
                stack[-2:] = [(stack[-2], stack[-1])]
            elif c == 0x87:  # TUPLE3
                stack[-3:] = [(stack[-3], stack[-2], stack[-1])]
            elif c == 0x4E:  # NONE
                stack.append(None)
            elif c == 0x89:  # NEWFALSE
                stack.append(False)
            elif c == 0x88:  # NEWTRUE
                stack.append(True)
            elif c == 0x29:  # EMPTY_TUPLE
                stack.append(())
            elif c == 0x5D:  # EMPTY_LIST
                stack.append([])
            elif c == 0x7D:  # EMPTY_DICT
                stack.append({})
            elif c == 0x8F:  # EMPTY_SET
                stack.append(set())
            elif c == 0x4A:  # BININT
                stack.append(struct.unpack("<i", read(4))[0])
            elif c == 0x4B:  # BININT1
                stack.append(read(1)[0])
            elif c == 0x4D:  # BININT2
                stack.append(struct.unpack("<H", read(2))[0])
            elif c == 0x47:  # BINFLOAT
                stack.append(struct.unpack(">d", read(8))[0])
            elif c == 0x58:  # BINUNICODE
                n = struct.unpack("<I", read(4))[0]
                stack.append(str(read(n), "utf-8", "surrogatepass"))
            elif c == 0x55:  # SHORT_BINSTRING (torch.load decodes these as utf-8)
                n = read(1)[0]
                stack.append(read(n).decode("utf-8"))
            elif c == 0x51:  # BINPERSID
                pid = stack.pop()
                if type(pid) is not tuple or not pid or pid[0] not in ("storage", b"storage"):
                    raise ForbiddenContent("a persistent id that is not a storage")
                stack.append(self._persistent_load(pid))
            elif c in (0x68, 0x6A):  # BINGET, LONG_BINGET
                i = read(1)[0] if c == 0x68 else struct.unpack("<I", read(4))[0]
                if i not in self.memo:
                    raise CorruptFile("the pickle reads an unset memo slot")
                stack.append(self.memo[i])
            elif c in (0x71, 0x72):  # BINPUT, LONG_BINPUT
                i = read(1)[0] if c == 0x71 else struct.unpack("<I", read(4))[0]
                self.memo[i] = stack[-1]
            elif c == 0x8A:  # LONG1
                n = read(1)[0]
                stack.append(int.from_bytes(read(n), "little", signed=True))
            elif c == 0x80:  # PROTO
                read(1)
            elif c == 0x2E:  # STOP
                if len(stack) != 1 or metastack:
                    raise CorruptFile("the pickle leaves a malformed stack")
                return stack.pop()
            else:
                raise ForbiddenContent(f"pickle opcode {op!r}")


def _load_pickle(data: bytes, persistent_load) -> Any:
    try:
        return _Interpreter(data, persistent_load).load()
    except TorchZipError:
        raise
    except (IndexError, TypeError, ValueError, UnicodeDecodeError, KeyError, struct.error) as e:
        # Stack underflow, unhashable keys, bad text: a damaged or hand-made pickle, never executed.
        raise CorruptFile(f"malformed pickle ({type(e).__name__})") from None


def _no_storages(pid):
    raise NotTorchFile("a bare pickle with tensor storages")


def _top_folder(names: list[str]) -> str:
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) != 1:
        raise NotTorchFile("a zip whose records are not in one folder (not a torch.save file)")
    top = tops.pop()
    if f"{top}/data.pkl" not in names:
        raise NotTorchFile("a zip without data.pkl (not a torch.save file)")
    return top


def read_torch_file(path: str | Path) -> Any:
    """The object `torch.load(path, weights_only=True)` returns, with every tensor as a numpy array.

    Arrays are C-contiguous, writable copies in native byte order with the tensor's dtype and shape.
    Raises NotTorchFile, CorruptFile, ForbiddenContent or NeedsTorch (one-line messages), OSError for an
    unreadable file. Nothing in the file is executed. Real-time safe: no (file I/O, allocates).
    """
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(4)
    if head != ZIP_LOCAL_HEADER:
        return _read_non_zip(path, head)
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise CorruptFile("truncated or damaged zip (no central directory)") from None
    with zf:
        try:
            return _read_zip(zf)
        except (zipfile.BadZipFile, EOFError, OSError) as e:
            # Bad CRC, a record cut short, a damaged local header: read errors of a damaged file.
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise CorruptFile(f"damaged zip record ({msg[:80]})") from None


def _read_zip(zf: zipfile.ZipFile) -> Any:
    names = zf.namelist()
    top = _top_folder(names)
    byteorder = "little"
    if f"{top}/byteorder" in names:
        byteorder = zf.read(f"{top}/byteorder").decode("ascii", "replace").strip()
        if byteorder not in ("little", "big"):
            raise CorruptFile(f"unknown byteorder record {byteorder[:20]!r}")
    if f"{top}/version" in names:
        text = zf.read(f"{top}/version").decode("ascii", "replace").strip()
        if not text.isdigit():
            raise CorruptFile(f"record version {text[:20]!r} is not a number")
        if int(text) not in SUPPORTED_RECORD_VERSIONS:
            raise NeedsTorch(f"torch record format version {text}")
    records: dict[str, bytes] = {}  # storage key -> raw bytes (tensors of any dtype may share one)

    def persistent_load(pid):
        if len(pid) != 5:
            raise NeedsTorch(f"a storage id of {len(pid)} fields")
        _, stype, key, _location, numel = pid
        if not isinstance(stype, _StorageType):
            raise NeedsTorch(f"a storage of type {stype!r}")
        if not isinstance(key, str) or type(numel) is not int or numel < 0:
            raise CorruptFile("malformed storage id")
        dtype = stype.dtype.newbyteorder("<" if byteorder == "little" else ">")
        nbytes = numel * dtype.itemsize
        if key not in records:
            name = f"{top}/data/{key}"
            if name not in names:
                raise CorruptFile(f"storage record data/{key} is missing")
            size = zf.getinfo(name).file_size
            if size != nbytes:  # checked before inflating anything: a record can decompress to any size
                raise CorruptFile(f"storage data/{key} holds {size} bytes, its tensors need {nbytes}")
            records[key] = zf.read(name)  # whole, so the zip's CRC is checked
        raw = records[key]
        if len(raw) != nbytes:
            raise CorruptFile(f"storage data/{key} holds {len(raw)} bytes, needs {nbytes}")
        arr = np.frombuffer(raw, dtype=dtype, count=numel)
        return arr if dtype.isnative else arr.astype(stype.dtype)

    return _load_pickle(zf.read(f"{top}/data.pkl"), persistent_load)


def _read_non_zip(path: Path, head: bytes) -> Any:
    """A file that is not a zip: a legacy torch file (torch reads it), a bare pickle (judged like a data.pkl
    without storages, then refused as not a torch.save file), or anything else."""
    if not head.startswith(b"\x80"):
        raise NotTorchFile("not a PyTorch file")
    data = path.read_bytes()
    first = _load_pickle(data, _no_storages)
    if first == LEGACY_MAGIC_NUMBER:
        raise NeedsTorch("a legacy (pre-1.6) torch file")
    raise NotTorchFile("a bare pickle, not a PyTorch file")


__all__ = [
    "CorruptFile",
    "ForbiddenContent",
    "NeedsTorch",
    "NotTorchFile",
    "TorchZipError",
    "read_torch_file",
]

if __name__ == "__main__":  # pragma: no cover - manual inspection: python -m vaesynth.models.torchzip F.pt
    import pprint

    pprint.pprint(read_torch_file(sys.argv[1]), depth=2)
