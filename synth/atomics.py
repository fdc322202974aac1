"""Lock-free primitives for numba code shared by the render thread and the audio callback.

numba has no CPU atomics, so these are LLVM instructions emitted through `numba.extending.intrinsic`. Each
works on an int64 at a raw address (an `arr.ctypes.data` inside njit code, or an address out of a control
array inside a `cfunc`), sequentially consistent, so the ring buffer's protocol (synth/ringbuffer.py) holds
on any CPU LLVM targets, not only on x86's strong ordering. Real-time safe: yes (one instruction each).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

_I64 = ir.IntType(64)


def _int64_pointer(builder, address):
    return builder.inttoptr(address, _I64.as_pointer())


@intrinsic
def as_voidptr(typingctx, address):
    """int64 address -> void* (numba has no cast for it)."""
    if not isinstance(address, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return types.voidptr(address), codegen


@intrinsic
def fence(typingctx):
    """A full memory fence."""

    def codegen(context, builder, signature, args):
        builder.fence("seq_cst")
        return context.get_dummy_value()

    return types.void(), codegen


@intrinsic
def compare_exchange(typingctx, address, expected, desired):
    """Atomically: if *address == expected, store desired. Returns the value found (== expected on
    success)."""
    if not all(isinstance(t, types.Integer) for t in (address, expected, desired)):
        return None

    def codegen(context, builder, signature, args):
        ptr = _int64_pointer(builder, args[0])
        exp = builder.sext(args[1], _I64) if args[1].type.width < 64 else args[1]
        new = builder.sext(args[2], _I64) if args[2].type.width < 64 else args[2]
        pair = builder.cmpxchg(ptr, exp, new, "seq_cst", "seq_cst")
        return builder.extract_value(pair, 0)

    return types.int64(address, expected, desired), codegen


@intrinsic
def fetch_or(typingctx, address, bits):
    """Atomically *address |= bits. Returns the value before."""
    if not all(isinstance(t, types.Integer) for t in (address, bits)):
        return None

    def codegen(context, builder, signature, args):
        ptr = _int64_pointer(builder, args[0])
        val = builder.sext(args[1], _I64) if args[1].type.width < 64 else args[1]
        return builder.atomic_rmw("or", ptr, val, "seq_cst")

    return types.int64(address, bits), codegen


@intrinsic
def load(typingctx, address):
    """Atomic (sequentially consistent) load of *address."""
    if not isinstance(address, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        ptr = _int64_pointer(builder, args[0])
        return builder.load_atomic(ptr, "seq_cst", 8)

    return types.int64(address), codegen
