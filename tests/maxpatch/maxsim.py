"""A small interpreter for the Max objects the device uses: pushes messages through the patch cords the way
Max does (depth first, right-to-left outlet order for objects that fire several outlets) and records what
reaches `udpsend`, `udpreceive` and the display objects. Semantics follow the Max reference pages of each
object; only what the device uses is modelled, and an unmodelled object fails loudly.
"""

from __future__ import annotations

import math
from collections import defaultdict


def parse_atom(token: str):
    """Max's reading of a typed token: `3` int, `0.` / `-3.0` float, anything else a symbol."""
    try:
        return int(token)
    except ValueError:
        pass
    try:
        return float(token)
    except ValueError:
        return token


class MaxSim:
    def __init__(self, patcher: dict):
        self.boxes = {b["box"]["id"]: b["box"] for b in patcher["patcher"]["boxes"]}
        self.cords = defaultdict(list)
        for line in patcher["patcher"]["lines"]:
            (src, outlet), (dst, inlet) = line["patchline"]["source"], line["patchline"]["destination"]
            self.cords[(src, outlet)].append((dst, inlet))
        self.state: dict = {}  # per box: stored values
        self.received = defaultdict(list)  # box id -> messages that reached a sink or display
        self.depth = 0

    # --- lookup ---
    def find(self, maxclass: str, text_prefix: str = "", **attrs) -> str:
        hits = [
            i
            for i, b in self.boxes.items()
            if b["maxclass"] == maxclass
            and b.get("text", "").startswith(text_prefix)
            and all(self._valueof(b).get(k, b.get(k)) == v for k, v in attrs.items())
        ]
        assert len(hits) == 1, f"{maxclass} {text_prefix!r} {attrs}: {len(hits)} matches"
        return hits[0]

    @staticmethod
    def _valueof(box) -> dict:
        return box.get("saved_attribute_attributes", {}).get("valueof", {})

    # --- message passing ---
    def emit(self, box_id: str, outlet: int, message: list) -> None:
        """Send `message` (a list of atoms) out of an outlet, to every connected inlet."""
        self.depth += 1
        assert self.depth < 100, "message loop"
        for dst, inlet in self.cords.get((box_id, outlet), []):
            self.receive(dst, inlet, list(message))
        self.depth -= 1

    def receive(self, box_id: str, inlet: int, msg: list) -> None:
        box = self.boxes[box_id]
        cls = box["maxclass"]
        if cls == "newobj":
            name, *args = box["text"].split()
            handler = getattr(self, "_obj_" + {"-": "minus", "*": "times"}.get(name, name).replace(".", "_"))
            handler(box_id, [parse_atom(a) for a in args], inlet, msg)
        else:
            getattr(self, "_ui_" + cls.replace(".", "_"))(box_id, box, inlet, msg)

    # --- newobj ---
    def _obj_prepend(self, i, args, inlet, msg):
        self.emit(i, 0, args + ([] if msg == ["bang"] else msg))

    def _obj_pack(self, i, args, inlet, msg):
        stored = self.state.setdefault(i, list(args))
        if inlet == 0 and len(msg) > 1:
            for k, v in enumerate(msg):
                stored[k] = v
        elif msg != ["bang"]:
            stored[inlet] = type(args[inlet])(msg[0])  # pack keeps each slot's type
        if inlet == 0:
            self.emit(i, 0, list(stored))

    def _obj_unpack(self, i, args, inlet, msg):
        for k in reversed(range(min(len(args), len(msg)))):
            self.emit(i, k, [float(msg[k]) if args[k] == "f" else int(msg[k])])

    def _obj_scale(self, i, args, inlet, msg):
        lo_in, hi_in, lo_out, hi_out = args[:4]
        float_out = isinstance(lo_out, float) or isinstance(hi_out, float)
        out = []
        for x in msg:
            y = lo_out + (x - lo_in) / (hi_in - lo_in) * (hi_out - lo_out)
            out.append(float(y) if float_out else int(math.floor(y)))  # Max truncates int output
        self.emit(i, 0, out)

    def _arith(self, i, args, inlet, msg, op):
        if inlet == 1:
            self.state[i] = msg[0]
            return
        right = self.state.get(i, args[0])
        y = op(msg[0], right)
        self.emit(i, 0, [float(y) if isinstance(args[0], float) else int(y)])

    def _obj_minus(self, i, args, inlet, msg):
        self._arith(i, args, inlet, msg, lambda a, b: a - b)

    def _obj_times(self, i, args, inlet, msg):
        self._arith(i, args, inlet, msg, lambda a, b: a * b)

    def _obj_sel(self, i, args, inlet, msg):
        for k, a in enumerate(args):
            if msg[0] == a:
                self.emit(i, k, ["bang"])
                return
        self.emit(i, len(args), msg)

    def _obj_route(self, i, args, inlet, msg):
        for k, a in enumerate(args):
            if msg[0] == a:
                self.emit(i, k, msg[1:] or ["bang"])
                return
        self.emit(i, len(args), msg)

    def _obj_zl(self, i, args, inlet, msg):
        assert args[0] == "slice"
        n = args[1]
        if msg[n:]:
            self.emit(i, 1, msg[n:])
        self.emit(i, 0, msg[:n])

    def _obj_i(self, i, args, inlet, msg):
        if inlet == 1:
            self.state[i] = int(msg[0])
            return
        if msg != ["bang"]:
            self.state[i] = int(msg[0])
        self.emit(i, 0, [self.state.get(i, args[0] if args else 0)])

    def _obj_t(self, i, args, inlet, msg):
        for k in reversed(range(len(args))):
            kind = args[k]
            self.emit(i, k, ["bang"] if kind == "b" else [int(msg[0])] if kind == "i" else [float(msg[0])])

    def _obj_metro(self, i, args, inlet, msg):
        if inlet == 0 and msg != [0]:
            self.emit(i, 0, ["bang"])  # the first tick, at once

    def _obj_udpsend(self, i, args, inlet, msg):
        self.received[i].append(msg)

    def _obj_udpreceive(self, i, args, inlet, msg):
        self.received[i].append(msg)

    def _obj_midiout(self, i, args, inlet, msg):
        self.received[i].append(msg)

    # --- boxes with their own maxclass ---
    def _ui_message(self, i, box, inlet, msg):
        atoms = [parse_atom(t) for t in box["text"].split()]
        atoms = [msg[int(a[1:]) - 1] if isinstance(a, str) and a.startswith("$") else a for a in atoms]
        self.emit(i, 0, atoms)

    def _ui_live_dial(self, i, box, inlet, msg):
        v = self._valueof(box)
        value = min(v["parameter_mmax"], max(v["parameter_mmin"], float(msg[0])))
        self.emit(i, 0, [int(round(value)) if v["parameter_type"] == 1 else value])

    _ui_live_numbox = _ui_live_dial

    def _ui_live_menu(self, i, box, inlet, msg):
        self.emit(i, 0, [int(msg[0])])

    def _ui_multislider(self, i, box, inlet, msg):
        assert msg[0] == "set", "displays are set without output"
        self.received[i].append(msg[1:])

    def _ui_pictslider(self, i, box, inlet, msg):
        assert msg[0] == "set", "the pad follows feedback without output"
        self.received[i].append(msg[1:])
