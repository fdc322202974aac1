"""The Pure Data patch (vanilla Pd >= 0.46: `oscformat`, `oscparse`, `netsend -u -b`), built from `spec`.

Two files:
- `vaesynth-osc.pd`, the sending part (an abstraction): its inlet takes `note i i`, `pc i f`, `gain f`,
  `engine s`, `bend f`, `panic`, `feedback i`, and `connect HOST PORT` / `disconnect`; each control is
  formatted by `oscformat -f TYPES vaesynth NAME` (types from `spec.SENT`, so ints stay ints) and leaves
  through one `netsend -u -b`. Its outlet is netsend's connection state (1 connected).
- `vaesynth.pd`, what the user opens: eight vertical sliders PC1..PC8 (-3..+3, receive names
  `vaesynth-pc0`..`vaesynth-pc7`), notes and bend from `notein`/`bendin`, engine buttons, a gain slider
  (receive `vaesynth-gain`), panic; everything goes to `[s vaesynth]`, which feeds the abstraction, so
  other patches (and `pd -send "vaesynth note 60 100"`) can play too. At load it connects to the server's
  default host and port and registers for feedback every 2 s; `netreceive -u -b` + `oscparse` put the
  server's PCA coordinates back on the sliders (`set`, no output, no loop) and the spectrum in an array.
"""

from __future__ import annotations

from vaesynth.maxpatch import spec

ABSTRACTION = "vaesynth-osc"
STATE_ABSTRACTION = "vaesynth-state"
SPECTRUM_ARRAY = "vaesynth-spectrum"
SEND_NAME = "vaesynth"  # [s vaesynth] / [r vaesynth]: the patch's own message bus
FONT_SIZE = 12

# Vanilla Pd 0.53 objects used here: class -> function(args) -> (n_inlets, n_outlets). Checked against Pd
# itself by tests/maxpatch/test_puredata.py (a cord to a missing inlet/outlet: Pd says "connection failed").
PD_OBJECTS = {
    "inlet": lambda a: (0, 1),
    "outlet": lambda a: (1, 0),
    "route": lambda a: (2 if len(a) == 1 else 1, len(a) + 1),
    "list": lambda a: (
        (2, 1) if not a or a[0] in ("append", "prepend") else (2, 3) if a[0] == "split" else (1, 1)
    ),
    "oscformat": lambda a: (1, 1),
    "oscparse": lambda a: (1, 1),
    "netsend": lambda a: (1, 2),
    "netreceive": lambda a: (1, 1 if "-u" in a else 2),  # TCP adds a connection-count outlet
    "s": lambda a: (1 if a else 2, 0),
    "r": lambda a: (0 if a else 1, 1),
    "loadbang": lambda a: (0, 1),
    "t": lambda a: (1, len(a)),
    "metro": lambda a: (2, 1),
    "delay": lambda a: (2, 1),
    "f": lambda a: (2, 1),
    "pack": lambda a: (len(a), 1),
    "unpack": lambda a: (1, len(a)),
    "notein": lambda a: (0, 3),
    "bendin": lambda a: (0, 2),
    "-": lambda a: (2, 1),
    "clip": lambda a: (3, 1),
    "/": lambda a: (2, 1),
    "*": lambda a: (2, 1),
    "array": lambda a: (3, 0) if a and a[0] == "set" else (1, 1),
    # IEM sliders: the inlet stays connectable with a receive name; a send name removes the outlet.
    "vsl": lambda a: (1, 0 if a[6] != "empty" else 1),
    "hsl": lambda a: (1, 0 if a[6] != "empty" else 1),
    "declare": lambda a: (0, 0),
}


def escape(text: str) -> str:
    """Pd file escaping for a box's text: `$` `,` `;` are written with a backslash."""
    return text.replace("$", "\\$").replace(",", " \\,").replace(";", " \\;")


class Canvas:
    """A Pd canvas: objects are numbered in creation order, as `#X connect` refers to them."""

    def __init__(self, width: int = 900, height: int = 600):
        self.header = f"#N canvas 0 50 {width} {height} {FONT_SIZE};"
        self.lines: list[str] = []
        self.n_objects = 0

    def _add(self, line: str) -> int:
        self.lines.append(line)
        self.n_objects += 1
        return self.n_objects - 1

    def obj(self, x: int, y: int, text: str) -> int:
        return self._add(f"#X obj {x} {y} {escape(text)};")

    def msg(self, x: int, y: int, text: str) -> int:
        return self._add(f"#X msg {x} {y} {escape(text)};")

    def text(self, x: int, y: int, text: str) -> int:
        return self._add(f"#X text {x} {y} {escape(text)};")

    def raw(self, lines: list[str]) -> int:
        """A multi-line object (a graph with its array): counts as one object."""
        self.lines.extend(lines)
        self.n_objects += 1
        return self.n_objects - 1

    def connect(self, source: int, outlet: int, sink: int, inlet: int) -> None:
        self.lines.append(f"#X connect {source} {outlet} {sink} {inlet};")

    def text_file(self) -> str:
        return "\n".join([self.header, *self.lines]) + "\n"


def build_abstraction() -> str:
    """`vaesynth-osc.pd`: control messages in, OSC out through `netsend -u -b`."""
    c = Canvas(1000, 400)
    names = list(spec.SENT)
    inlet = c.obj(20, 20, "inlet")
    route = c.obj(20, 50, "route " + " ".join(names + ["connect", "disconnect"]))
    c.connect(inlet, 0, route, 0)
    to_send = c.obj(20, 230, "list prepend send")
    trim = c.obj(20, 260, "list trim")
    netsend = c.obj(20, 290, "netsend -u -b")
    status = c.obj(20, 320, "outlet")
    c.connect(to_send, 0, trim, 0)
    c.connect(trim, 0, netsend, 0)
    c.connect(netsend, 0, status, 0)
    for i, name in enumerate(names):
        x = 20 + 130 * i
        as_list = c.obj(x, 110 + 20 * (i % 2), "list")  # anything/bang -> list, as oscformat wants
        types = spec.SENT[name]
        fmt = f"oscformat -f {types} " if types else "oscformat "
        address = spec.address(name)
        osc = c.obj(x, 170 + 20 * (i % 2), fmt + " ".join(address.strip("/").split("/")))
        c.connect(route, i, as_list, 0)
        c.connect(as_list, 0, osc, 0)
        c.connect(osc, 0, to_send, 0)
    connect = c.obj(700, 110, "list prepend connect")
    connect_trim = c.obj(700, 140, "list trim")
    disconnect = c.msg(880, 110, "disconnect")
    c.connect(route, len(names), connect, 0)
    c.connect(connect, 0, connect_trim, 0)
    c.connect(connect_trim, 0, netsend, 0)
    c.connect(route, len(names) + 1, disconnect, 0)
    c.connect(disconnect, 0, netsend, 0)
    return c.text_file()


def _to_bus(c: Canvas, source: int, outlet: int, prefix: str, x: int, y: int) -> None:
    """source -> [list prepend PREFIX] -> [list trim] -> [s vaesynth]."""
    prepend = c.obj(x, y, f"list prepend {prefix}")
    trim = c.obj(x, y + 25, "list trim")
    send = c.obj(x, y + 50, f"s {SEND_NAME}")
    c.connect(source, outlet, prepend, 0)
    c.connect(prepend, 0, trim, 0)
    c.connect(trim, 0, send, 0)


def _slider(
    kind: str, x: int, y: int, length: int, low: float, high: float, receive: str, label: str, value: float
) -> str:
    """An IEM slider line (Pd 0.51+ format): no send name (so it has an outlet), a receive name (no inlet)."""
    width, height = (18, length) if kind == "vsl" else (length, 18)
    position = round((value - low) / (high - low) * (length - 1) * 100)  # saved as pixels * 100
    label_x, label_y = (0, -9) if kind == "vsl" else (0, -9)
    return (
        f"#X obj {x} {y} {kind} {width} {height} {low:g} {high:g} 0 0 empty {receive} {label} "
        f"{label_x} {label_y} 0 10 #fcfcfc #000000 #000000 {position} 1;"
    )


def build_patch() -> str:
    """`vaesynth.pd`: the user's patch (see the module docstring)."""
    server = spec.server_defaults()
    c = Canvas(1100, 700)
    c.text(
        20, 10, "vaesynth - play `vaesynth serve` over OSC. Generated by python -m vaesynth.maxpatch.generate"
    )
    bus = c.obj(20, 620, f"r {SEND_NAME}")
    sender = c.obj(20, 650, ABSTRACTION)
    c.connect(bus, 0, sender, 0)
    c.text(
        200, 650, "<- the sending part: send it note / pc / gain / engine / bend / panic / feedback / connect"
    )

    # PCA sliders.
    r = spec.PC_RANGE_STD
    c.text(20, 40, f"PCA coordinates, -{r:g}..+{r:g} standard deviations (the server's state follows)")
    for k in range(spec.N_PC_CONTROLS):
        x = 30 + 50 * k
        slider = c._add(_slider("vsl", x, 80, 128, -r, r, f"vaesynth-pc{k}", f"PC{k + 1}", 0.0))
        clip = c.obj(
            x, 225 + 12 * (k % 2), f"clip {-r:g} {r:g}"
        )  # Pd's sliders pass received values unclipped
        c.connect(slider, 0, clip, 0)
        _to_bus(c, clip, 0, f"pc {k}", x, 255 + 12 * (k % 2))

    # Notes and bend from MIDI in.
    notein = c.obj(480, 60, "notein")
    pack = c.obj(480, 90, "pack f f")
    c.connect(notein, 0, pack, 0)  # notein fires right to left: velocity first, pitch triggers
    c.connect(notein, 1, pack, 1)
    _to_bus(c, pack, 0, "note", 480, 115)
    bendin = c.obj(620, 60, "bendin")
    centre = c.obj(620, 90, "- 8192")  # Pd's bendin: 0..16383, centre 8192
    scale = c.obj(620, 115, f"* {spec.BEND_RANGE_SEMITONES / 8192.0!r}")
    c.connect(bendin, 0, centre, 0)
    c.connect(centre, 0, scale, 0)
    _to_bus(c, scale, 0, "bend", 620, 140)

    # Engine, gain, panic.
    c.text(480, 220, "engine")
    engine_send = c.obj(480, 270, f"s {SEND_NAME}")
    for i, name in enumerate(server["engines"]):
        button = c.msg(480 + 110 * i, 240, f"engine {name}")
        c.connect(button, 0, engine_send, 0)
    low_db, high_db = spec.GAIN_RANGE_DB
    gain = c._add(_slider("hsl", 480, 320, 128, low_db, high_db, "vaesynth-gain", "gain_dB", 0.0))
    gain_clip = c.obj(480, 345, f"clip {low_db:g} {high_db:g}")
    c.connect(gain, 0, gain_clip, 0)
    _to_bus(c, gain_clip, 0, "gain", 480, 370)
    panic = c.msg(680, 320, "panic")
    panic_send = c.obj(680, 345, f"s {SEND_NAME}")
    c.connect(panic, 0, panic_send, 0)

    # Connection: at load, and on click (edit the host/port here).
    load = c.obj(780, 60, "loadbang")
    order = c.obj(780, 85, "t b b")
    c.connect(load, 0, order, 0)
    connect = c.msg(780, 115, f"disconnect, connect {server['osc_host']} {server['osc_port']}")
    connect_send = c.obj(780, 140, f"s {SEND_NAME}")
    c.connect(order, 1, connect, 0)
    c.connect(connect, 0, connect_send, 0)
    metro = c.obj(780, 170, f"metro {spec.REGISTER_INTERVAL_MS}")
    port = c.obj(780, 195, f"f {spec.FEEDBACK_PORT}")
    c.connect(order, 0, metro, 0)
    c.connect(metro, 0, port, 0)
    _to_bus(c, port, 0, "feedback", 780, 220)

    # Feedback from the server (the receiving abstraction): PCA coordinates onto the sliders, spectrum below.
    listen = c.msg(780, 290, f"listen {spec.FEEDBACK_PORT}")
    state = c.obj(780, 320, f"{STATE_ABSTRACTION} {spec.FEEDBACK_PORT}")
    c.connect(listen, 0, state, 0)
    c.text(780, 345, "<- feedback port: listen here, register the same port above")
    low, high = spec.SPECTRUM_RANGE_DB
    n = spec.SPECTRUM_BANDS
    array_name = SPECTRUM_ARRAY
    c.raw(
        [
            "#N canvas 0 50 450 250 (subpatch) 0;",
            f"#X array {array_name} {n} float 1;",
            "#A 0 " + " ".join(f"{low:g}" for _ in range(n)) + ";",
            f"#X coords 0 {high:g} {n} {low:g} 256 100 1 0 0;",
            "#X restore 30 420 graph;",
        ]
    )
    c.text(30, 530, f"spectrum, {n} bands, {low:g}..{high:g} dB")
    return c.text_file()


def build_state_abstraction() -> str:
    """`vaesynth-state.pd`: listens for the server's feedback on UDP port $1 (inlet: `listen PORT`).

    `/vaesynth/state/pc f*` -> `set v` to the receive names `vaesynth-pc0`.. (sliders move, send nothing);
    `/vaesynth/state/spectrum f*` -> the array `vaesynth-spectrum`.
    """
    c = Canvas(900, 400)
    inlet = c.obj(20, 20, "inlet")
    receive = c.obj(20, 50, "netreceive -u -b $1")
    parse = c.obj(20, 75, "oscparse")
    trim = c.obj(20, 100, "list trim")
    c.connect(inlet, 0, receive, 0)
    c.connect(receive, 0, parse, 0)
    c.connect(parse, 0, trim, 0)
    state_pc = spec.feedback_address("state/pc").strip("/").split("/")
    state_spectrum = spec.feedback_address("state/spectrum").strip("/").split("/")
    assert state_pc[:-1] == state_spectrum[:-1] == ["vaesynth", "state"]
    route_top = c.obj(20, 125, "route vaesynth")
    route_state = c.obj(20, 150, "route state")
    route_kind = c.obj(20, 175, f"route {state_pc[-1]} {state_spectrum[-1]}")
    c.connect(trim, 0, route_top, 0)
    c.connect(route_top, 0, route_state, 0)
    c.connect(route_state, 0, route_kind, 0)
    first = c.obj(20, 200, f"list split {spec.N_PC_CONTROLS}")
    unpack = c.obj(20, 225, "unpack " + " ".join("f" * spec.N_PC_CONTROLS))
    c.connect(route_kind, 0, first, 0)
    c.connect(first, 0, unpack, 0)
    c.connect(first, 2, unpack, 0)  # fewer PCs than sliders
    for k in range(spec.N_PC_CONTROLS):
        set_msg = c.msg(20 + 60 * k, 260 + 20 * (k % 2), "set $1")
        set_send = c.obj(20 + 60 * k, 300 + 20 * (k % 2), f"s vaesynth-pc{k}")
        c.connect(unpack, k, set_msg, 0)
        c.connect(set_msg, 0, set_send, 0)
    to_array = c.obj(600, 200, f"array set {SPECTRUM_ARRAY}")
    c.connect(route_kind, 1, to_array, 0)
    return c.text_file()
