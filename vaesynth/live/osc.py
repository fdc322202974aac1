"""OSC over UDP: a receiver thread that never dies on garbage, and message encoding for replies.

python-osc's own servers raise inside their handler thread on some malformed datagrams; this receiver reads
datagrams itself and parses each with `OscPacket` under try/except, so a bad packet costs one counter
increment. Bundles are flattened (their time tags are ignored: messages apply on receipt, like `serve`'s
other input), at most `MAX_MESSAGES_PER_PACKET` messages per datagram (the rest are dropped and counted);
datagrams over `MAX_PACKET_BYTES` are dropped unparsed.
Every parsed message goes, with its receive time (time.perf_counter) and sender address, to `sink`, which
must not block (the server handles it at once or queues it); `idle`, if given, is called once the socket
has nothing more waiting (the server decodes a burst of knob moves once, there).
"""

from __future__ import annotations

import select
import socket
import threading
import time
import warnings
from collections import Counter
from typing import Callable

import numpy as np
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from vaesynth.synth.gesture import GestureOnset

MAX_DATAGRAM_BYTES = 65535
MAX_MESSAGES_PER_PACKET = 256
# Larger datagrams are dropped unparsed: parsing a 64 KB bundle of thousands of messages would stall the
# receiver for tens of milliseconds while the socket buffer overflows. Real controllers send < 1 KB.
MAX_PACKET_BYTES = 16384
RECEIVE_BUFFER_BYTES = 4 << 20


def encode_message(address: str, args=()) -> bytes:
    """(address, args) -> one OSC message datagram. ints -> i, floats -> f, str -> s."""
    b = OscMessageBuilder(address=address)
    for a in args:
        if isinstance(a, bool):
            b.add_arg(int(a), "i")
        elif isinstance(a, int):
            b.add_arg(a, "i")
        elif isinstance(a, float):
            b.add_arg(a, "f")
        elif isinstance(a, str):
            b.add_arg(a, "s")
        else:
            b.add_arg(float(a), "f")  # numpy scalars
    return b.build().dgram


class OscReceiver:
    """UDP socket bound to (host, port) plus a daemon thread feeding `sink(address, args, sender, t_recv)`.

    port 0 picks a free port (see `.port`). Binding anything but a loopback address warns: OSC has no
    authentication, anyone who can reach the port can play (or mute) the synth. `stats`: packets, messages,
    and drops by reason ("malformed packet", "too many messages"). `send(data, addr)` replies from the same
    socket (clients expect replies from the port they sent to); safe from another thread.
    `pending`: an int64 [2] array (the engine's `incoming`) or None: [0] counts datagrams received, [1] is set
    to it once one has been handled (idle included), so the audio callback knows a control message is on its
    way from the moment it arrives (live/native_callback.py). `wait_for`: the addresses worth that wait
    (None: all); a message to another address is not counted, a bundle without one is settled as soon as
    it is parsed. `wait_on_onset`: addresses of continuous controls (knobs) worth it only at a gesture's
    first move, after a pause of `synth.gesture.ONSET_GAP_S` since the last of them (a stream of moves is
    not counted; nor is one inside a bundle).
    """

    def __init__(
        self,
        host: str,
        port: int,
        sink: Callable,
        idle: Callable | None = None,
        pending: np.ndarray | None = None,
        wait_for: frozenset[str] | None = None,
        wait_on_onset: frozenset[str] = frozenset(),
    ):
        self.sink = sink
        self.idle = idle
        self.pending = pending
        self.wait_for = wait_for
        self._wait_for_bytes = None if wait_for is None else frozenset(a.encode() for a in wait_for)
        self._onset_bytes = frozenset(a.encode() for a in wait_on_onset)
        self.gesture = GestureOnset()  # which `wait_on_onset` moves are worth waiting for
        self.stats: Counter = Counter()
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        except socket.gaierror as e:
            raise OSError(f"cannot resolve OSC host {host!r} ({e.strerror})") from None
        family, _, _, _, addr = infos[0]
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self.sock.bind(addr)
        except OSError:
            self.sock.close()
            raise
        self.sock.settimeout(0.1)
        try:  # room for bursts while the control side is busy (the kernel caps it at net.core.rmem_max)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
        except OSError:
            pass
        self.host, self.port = self.sock.getsockname()[:2]
        if not (host.startswith("127.") or host in ("localhost", "::1")):
            warnings.warn(
                f"OSC is listening on {host}: anyone on the network can control the synth",
                stacklevel=2,
            )
        self._running = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="vaesynth-osc", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        self.sock.close()

    def send(self, data: bytes, addr) -> bool:
        try:
            self.sock.sendto(data, addr)
            return True
        except OSError:
            self.stats["send failed"] += 1
            return False

    def _loop(self) -> None:
        while self._running:
            try:
                data, sender = self.sock.recvfrom(MAX_DATAGRAM_BYTES)
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                if not self._running:
                    return
                self.stats["receive error"] += 1
                time.sleep(0.01)
                continue
            t_recv = time.perf_counter()
            pending = self.pending
            if pending is not None and not self._worth_waiting(data, t_recv):
                pending = None  # a knob move, say: not counted at all
            if pending is not None:
                pending[0] += 1
            try:
                self.stats["packets"] += 1
                self.handle_datagram(data, sender, t_recv)
                if self.idle is not None and not select.select([self.sock], [], [], 0)[0]:
                    self.idle()
            finally:
                if pending is not None:
                    pending[1] = pending[0]

    def _worth_waiting(self, data: bytes, t_recv: float) -> bool:
        """Before parsing: could this datagram hold an address in `wait_for`, or is it a gesture's first
        move (`wait_on_onset`)? (A message's address is its first NUL-terminated string; a bundle has to be
        parsed to tell.)"""
        if self._wait_for_bytes is None or data.startswith(b"#bundle"):
            return True
        address = data[: data.find(b"\x00")]
        if address in self._onset_bytes:
            return self.gesture.onset(t_recv)
        return address in self._wait_for_bytes

    @staticmethod
    def _any_address(messages, addresses: frozenset[str]) -> bool:
        for tm in messages:
            try:
                if tm.message.address in addresses:
                    return True
            except Exception:  # a malformed message: counted when it is passed on
                pass
        return False

    def handle_datagram(self, data: bytes, sender, t_recv: float) -> None:
        """Parse one datagram and pass its messages to the sink; never raises."""
        if len(data) > MAX_PACKET_BYTES:
            self.stats["oversized packet"] += 1
            return
        try:
            packet = OscPacket(data)
            messages = packet.messages
        except Exception:  # ParseError, struct.error, IndexError, UnicodeDecodeError, ...: garbage
            self.stats["malformed packet"] += 1
            return
        if len(messages) > MAX_MESSAGES_PER_PACKET:
            self.stats["too many messages"] += len(messages) - MAX_MESSAGES_PER_PACKET
            messages = messages[:MAX_MESSAGES_PER_PACKET]
        pending, wait_for = self.pending, self.wait_for
        if (
            pending is not None
            and wait_for is not None
            and data.startswith(b"#bundle")
            and not self._any_address(messages, wait_for)
        ):
            pending[1] = pending[0]  # a bundle with nothing in it the audio callback should wait for
        for tm in messages:
            try:
                msg = tm.message
                self.sink(msg.address, list(msg.params), sender, t_recv)
                self.stats["messages"] += 1
            except Exception:
                self.stats["malformed packet"] += 1
