"""Inlets and outlets of the Max objects the device uses, as Max writes them into a `.maxpat`.

Max recomputes these when it loads a patch, but it refuses patch cords to inlets/outlets that do not exist,
so the generator needs them to lay out cords and the tests need them to check every cord.
Each entry: class name -> function(args) -> (numinlets, numoutlets, outlettype).
"""

from __future__ import annotations


def _n_args(args: list[str]) -> int:
    return max(1, len(args))


NEWOBJ = {
    "notein": lambda a: (1, 3, ["int", "int", "int"]),
    "bendin": lambda a: (1, 2, ["int", "int"]),
    "midiin": lambda a: (1, 1, ["int"]),
    "midiout": lambda a: (1, 0, []),
    "pack": lambda a: (_n_args(a), 1, [""]),
    "unpack": lambda a: (1, _n_args(a), ["float" if x.startswith("f") else "int" for x in a] or ["int"]),
    "prepend": lambda a: (1, 1, [""]),
    # Max 7+: one right inlet per argument, to change it
    "route": lambda a: (len(a) + 1, len(a) + 1, [""] * (len(a) + 1)),
    "sel": lambda a: (len(a) + 1, len(a) + 1, ["bang"] * len(a) + [""]),
    "scale": lambda a: (6, 1, [""]),
    "-": lambda a: (2, 1, ["int" if a and "." not in a[0] else "float"]),
    "*": lambda a: (2, 1, ["int" if a and "." not in a[0] else "float"]),
    "zl": lambda a: (2, 2, ["", ""]),
    "i": lambda a: (2, 1, ["int"]),
    "t": lambda a: (
        1,
        len(a),
        ["bang" if x == "b" else "int" if x == "i" else "float" if x == "f" else "" for x in a],
    ),
    "metro": lambda a: (2, 1, ["bang"]),
    "loadbang": lambda a: (1, 1, ["bang"]),
    "live.thisdevice": lambda a: (1, 3, ["bang", "int", "int"]),
    "udpsend": lambda a: (1, 0, []),
    "udpreceive": lambda a: (1, 1, [""]),
}

# Non-`newobj` boxes (user interface objects, messages, comments):
# maxclass -> (numinlets, numoutlets, outlettype)
UI = {
    "message": (2, 1, [""]),
    "comment": (1, 0, []),
    "panel": (1, 0, []),
    "live.dial": (1, 2, ["", "float"]),
    "live.numbox": (1, 2, ["", "float"]),
    "live.menu": (1, 3, ["", "", "float"]),
    "live.comment": (1, 0, []),
    "multislider": (1, 2, ["", ""]),
    "pictslider": (2, 2, ["int", "int"]),
    "textedit": (1, 4, ["", "int", "", ""]),
}


def signature(maxclass: str, text: str = "") -> tuple[int, int, list[str]]:
    """(numinlets, numoutlets, outlettype) of a box; `text` is a newobj's text ("pack 0 0.")."""
    if maxclass != "newobj":
        n_in, n_out, types = UI[maxclass]
        return n_in, n_out, list(types)
    name, *args = text.split()
    return NEWOBJ[name](args)
