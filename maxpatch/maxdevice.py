"""The Max for Live device as a Max patcher dict (the `.maxpat` JSON), built from `spec`.

What it does, in Live (a MIDI effect: MIDI passes through unchanged to whatever follows it):
- notes on the track -> `/vaesynth/note i i`; pitch wheel -> `/vaesynth/bend f` (semitones);
- eight automatable `live.dial`s "PC 1".."PC 8" (-3..+3 standard deviations) -> `/vaesynth/pc i f`;
- an XY pad driving PC 1 (x) and PC 2 (y) through those dials (so automation records the pad too);
- an engine menu -> `/vaesynth/engine s`, a gain dial in dB -> `/vaesynth/gain f`, a panic button;
- OSC host (text field) and port (number box) of the server, both go to `udpsend` as `host`/`port`;
- a `udpreceive` on the feedback port (registered with `/vaesynth/feedback i` when the device loads and
  every 2 s after, so a server started later is found): the decoded spectrum in a multislider, the PCA
  coordinates in a second multislider and on the pad (set without output, so no feedback loop).
All messages leave through one `udpsend`, which speaks OSC for messages whose selector starts with `/`:
ints become `i`, floats `f`, symbols `s`.
"""

from __future__ import annotations

from vaesynth.maxpatch import spec
from vaesynth.maxpatch.maxobjects import signature

DEVICE_WIDTH = 570
PAD_RANGE = 127  # pictslider's integer steps per axis


class Patcher:
    """Collects boxes and patch cords; ids are `obj-1`, `obj-2`, ... in creation order (deterministic)."""

    def __init__(self):
        self.boxes: list[dict] = []
        self.lines: list[dict] = []

    def box(self, maxclass: str, rect: list, text: str | None = None, presentation_rect=None, **attrs) -> str:
        box_id = f"obj-{len(self.boxes) + 1}"
        n_in, n_out, outlettype = signature(maxclass, text or "")
        box = {"id": box_id, "maxclass": maxclass, "numinlets": n_in, "numoutlets": n_out}
        if n_out:
            box["outlettype"] = outlettype
        box["patching_rect"] = [float(v) for v in rect]
        if text is not None:
            box["text"] = text
        if presentation_rect is not None:
            box["presentation"] = 1
            box["presentation_rect"] = [float(v) for v in presentation_rect]
        box.update(attrs)
        self.boxes.append({"box": box})
        return box_id

    def obj(self, text: str, x: float, y: float) -> str:
        return self.box("newobj", [x, y, max(40, 7 * len(text) + 12), 22], text=text)

    def msg(self, text: str, x: float, y: float, presentation_rect=None) -> str:
        return self.box(
            "message", [x, y, max(40, 7 * len(text) + 12), 22], text=text, presentation_rect=presentation_rect
        )

    def comment(self, text: str, x: float, y: float, presentation_rect=None, width: float = 150) -> str:
        return self.box("comment", [x, y, width, 20], text=text, presentation_rect=presentation_rect)

    def connect(self, source: str, outlet: int, destination: str, inlet: int) -> None:
        self.lines.append({"patchline": {"destination": [destination, inlet], "source": [source, outlet]}})

    def parameter(
        self,
        maxclass: str,
        rect,
        presentation_rect,
        *,
        longname: str,
        shortname: str,
        parameter_type: int,
        mmin: float,
        mmax: float,
        initial: float,
        unitstyle: int,
        invisible: int = 0,
        enum: list | None = None,
        **attrs,
    ) -> str:
        """A Live parameter (saved with the Live set; automatable unless `invisible` = 1 stored only)."""
        valueof = {
            "parameter_longname": longname,
            "parameter_shortname": shortname,
            "parameter_type": parameter_type,  # 0 float, 1 int (0..255), 2 enum
            "parameter_mmin": mmin,
            "parameter_mmax": mmax,
            "parameter_initial": [initial],
            "parameter_initial_enable": 1,
            "parameter_unitstyle": unitstyle,  # 1 float, 0 int, 4 dB, 9 custom
            "parameter_invisible": invisible,
        }
        if enum is not None:
            valueof["parameter_enum"] = list(enum)
        return self.box(
            maxclass,
            rect,
            presentation_rect=presentation_rect,
            parameter_enable=1,
            varname=longname,
            saved_attribute_attributes={"valueof": valueof},
            **attrs,
        )


def build_patcher() -> dict:
    """The device's patcher dict: `{"patcher": {...}}`, exactly what the `.maxpat` file holds."""
    server = spec.server_defaults()
    p = Patcher()
    pc_address = spec.address("pc")

    out = p.obj(f"udpsend {server['osc_host']} {server['osc_port']}", 40, 760)

    # MIDI: pass everything through, and send notes and bend to the server.
    midiin = p.obj("midiin", 40, 20)
    midiout = p.obj("midiout", 40, 60)
    p.connect(midiin, 0, midiout, 0)
    notein = p.obj("notein", 120, 20)
    note_pack = p.obj("pack 0 0", 120, 60)
    p.connect(notein, 0, note_pack, 0)  # notein fires right to left: velocity is stored before pitch triggers
    p.connect(notein, 1, note_pack, 1)
    note_send = p.obj(f"prepend {spec.address('note')}", 120, 100)
    p.connect(note_pack, 0, note_send, 0)
    p.connect(note_send, 0, out, 0)
    bendin = p.obj("bendin", 300, 20)
    bend_centre = p.obj("- 64", 300, 60)
    bend_scale = p.obj(f"* {spec.BEND_RANGE_SEMITONES / 64.0!r}", 300, 100)
    bend_send = p.obj(f"prepend {spec.address('bend')}", 300, 140)
    p.connect(bendin, 0, bend_centre, 0)
    p.connect(bend_centre, 0, bend_scale, 0)
    p.connect(bend_scale, 0, bend_send, 0)
    p.connect(bend_send, 0, out, 0)

    # Eight PCA dials: Live parameters "PC 1".."PC 8".
    r = spec.PC_RANGE_STD
    dials = []
    for k in range(spec.N_PC_CONTROLS):
        x = 40 + 70 * k
        dial = p.parameter(
            "live.dial",
            [x, 200, 44, 48],
            [8 + 42 * k, 20, 41, 48],
            longname=f"PC {k + 1}",
            shortname=f"PC{k + 1}",
            parameter_type=0,
            mmin=-r,
            mmax=r,
            initial=0.0,
            unitstyle=1,
        )
        send = p.obj(f"prepend {pc_address} {k}", x, 270)
        p.connect(dial, 0, send, 0)
        p.connect(send, 0, out, 0)
        dials.append(dial)
    p.comment("PCA (standard deviations)", 600, 200, presentation_rect=[8, 2, 200, 18], width=200)

    # XY pad on PCs 0 and 1: it moves the dials, so automation and the Live set see the same values.
    pad = p.box(
        "pictslider",
        [40, 320, 100, 100],
        presentation_rect=[350, 20, 100, 100],
        leftvalue=0,
        rightvalue=PAD_RANGE,
        bottomvalue=0,
        topvalue=PAD_RANGE,
    )
    for outlet, axis in enumerate(spec.XY_PAD_AXES):
        to_std = p.obj(f"scale 0 {PAD_RANGE} {-r!r} {r!r}", 160 + 160 * outlet, 330)
        p.connect(pad, outlet, to_std, 0)
        p.connect(to_std, 0, dials[axis], 0)
    p.comment("PC 1 / PC 2", 40, 300, presentation_rect=[350, 2, 100, 18], width=100)

    # Engine menu, gain, panic.
    engines = server["engines"]
    menu = p.parameter(
        "live.menu",
        [40, 460, 80, 15],
        [460, 20, 100, 15],
        longname="Engine",
        shortname="Engine",
        parameter_type=2,
        mmin=0.0,
        mmax=float(len(engines) - 1),
        initial=float(engines.index(server["engine"])),
        unitstyle=9,
        enum=list(engines),
    )
    select = p.obj("sel " + " ".join(str(i) for i in range(len(engines))), 40, 490)
    p.connect(menu, 0, select, 0)
    for i, name in enumerate(engines):
        engine_msg = p.msg(f"{spec.address('engine')} {name}", 40 + 200 * i, 520)
        p.connect(select, i, engine_msg, 0)
        p.connect(engine_msg, 0, out, 0)
    low_db, high_db = spec.GAIN_RANGE_DB
    gain = p.parameter(
        "live.dial",
        [460, 440, 44, 48],
        [460, 40, 41, 48],
        longname="Gain",
        shortname="Gain",
        parameter_type=0,
        mmin=low_db,
        mmax=high_db,
        initial=0.0,
        unitstyle=4,
    )
    gain_send = p.obj(f"prepend {spec.address('gain')}", 460, 500)
    p.connect(gain, 0, gain_send, 0)
    p.connect(gain_send, 0, out, 0)
    panic = p.msg(spec.address("panic"), 600, 500, presentation_rect=[505, 55, 60, 20])
    p.connect(panic, 0, out, 0)

    # Where the server is: host (text) and port (stored with the Live set, not automatable).
    p.comment("host", 40, 560, presentation_rect=[460, 95, 30, 18], width=40)
    host = p.box(
        "textedit",
        [40, 580, 100, 20],
        presentation_rect=[490, 95, 75, 18],
        text=server["osc_host"],
        lines=1,
        keymode=1,
    )
    host_route = p.obj("route text", 40, 610)
    host_send = p.obj("prepend host", 40, 640)
    p.connect(host, 0, host_route, 0)
    p.connect(host_route, 0, host_send, 0)
    p.connect(host_route, 1, host_send, 0)  # textedit versions without the "text" prefix
    p.connect(host_send, 0, out, 0)
    p.comment("port", 200, 560, presentation_rect=[460, 117, 30, 18], width=40)
    port = p.parameter(
        "live.numbox",
        [200, 580, 50, 15],
        [490, 117, 75, 15],
        longname="OSC Port",
        shortname="Port",
        parameter_type=0,  # Live's int type stops at 255: a float shown as an int, made an int below
        mmin=1.0,
        mmax=65535.0,
        initial=float(server["osc_port"]),
        unitstyle=0,
        invisible=1,
    )
    port_int = p.obj("t i", 200, 610)
    port_send = p.obj("prepend port", 200, 640)
    p.connect(port, 0, port_int, 0)
    p.connect(port_int, 0, port_send, 0)
    p.connect(port_send, 0, out, 0)

    # Feedback: register at load and every REGISTER_INTERVAL_MS; listen on the feedback port.
    p.comment("feedback", 300, 560, presentation_rect=[460, 137, 50, 18], width=60)
    fb_port = p.parameter(
        "live.numbox",
        [300, 580, 50, 15],
        [510, 137, 55, 15],
        longname="Feedback Port",
        shortname="FbPort",
        parameter_type=0,
        mmin=1.0,
        mmax=65535.0,
        initial=float(spec.FEEDBACK_PORT),
        unitstyle=0,
        invisible=1,
    )
    fb_split = p.obj("t i i", 300, 610)
    p.connect(fb_port, 0, fb_split, 0)
    thisdevice = p.obj("live.thisdevice", 420, 580)
    metro = p.obj(f"metro {spec.REGISTER_INTERVAL_MS}", 420, 610)
    p.connect(thisdevice, 0, metro, 0)
    fb_store = p.obj(f"i {spec.FEEDBACK_PORT}", 420, 640)
    p.connect(metro, 0, fb_store, 0)
    p.connect(fb_split, 0, fb_store, 0)  # register at once when the port changes
    p.connect(fb_split, 1, fb_store, 1)
    fb_register = p.obj(f"prepend {spec.address('feedback')}", 420, 680)
    p.connect(fb_store, 0, fb_register, 0)
    p.connect(fb_register, 0, out, 0)
    fb_listen_port = p.obj("prepend port", 300, 680)
    receive = p.obj(f"udpreceive {spec.FEEDBACK_PORT}", 300, 720)
    p.connect(fb_split, 1, fb_listen_port, 0)
    p.connect(fb_listen_port, 0, receive, 0)

    state_pc, state_spectrum = spec.feedback_address("state/pc"), spec.feedback_address("state/spectrum")
    route = p.obj(f"route {state_pc} {state_spectrum}", 600, 760)
    p.connect(receive, 0, route, 0)
    pcs_view = p.box(
        "multislider",
        [600, 820, 160, 40],
        presentation_rect=[8, 72, 334, 28],
        size=spec.N_PC_CONTROLS,
        setminmax=[-r, r],
        settype=1,
        setstyle=1,
        ignoreclick=1,
        contdata=1,
    )
    pcs_set = p.obj("prepend set", 600, 790)
    p.connect(route, 0, pcs_set, 0)
    p.connect(pcs_set, 0, pcs_view, 0)
    first_two = p.obj("zl slice 2", 800, 790)
    p.connect(route, 0, first_two, 0)
    split = p.obj("unpack f f", 800, 820)
    p.connect(first_two, 0, split, 0)
    pad_pack = p.obj("pack 0 0", 800, 880)
    for k in range(2):
        to_pad = p.obj(f"scale {-r!r} {r!r} 0 {PAD_RANGE}", 800 + 120 * k, 850)
        p.connect(split, k, to_pad, 0)
        p.connect(to_pad, 0, pad_pack, k)  # unpack fires right to left: y is stored before x triggers
    pad_set = p.obj("prepend set", 800, 910)
    p.connect(pad_pack, 0, pad_set, 0)
    p.connect(pad_set, 0, pad, 0)
    low, high = spec.SPECTRUM_RANGE_DB
    spectrum_view = p.box(
        "multislider",
        [1000, 820, 256, 60],
        presentation_rect=[8, 104, 334, 60],
        size=spec.SPECTRUM_BANDS,
        setminmax=[low, high],
        settype=1,
        setstyle=1,
        ignoreclick=1,
    )
    spectrum_set = p.obj("prepend set", 1000, 790)
    p.connect(route, 1, spectrum_set, 0)
    p.connect(spectrum_set, 0, spectrum_view, 0)

    p.comment(
        "vaesynth: sends OSC to `vaesynth serve`; generated by python -m vaesynth.maxpatch.generate"
        " - edit maxpatch/maxdevice.py, not this file",
        600,
        20,
        width=420,
    )

    parameters = {}
    for entry in p.boxes:
        box = entry["box"]
        if box.get("parameter_enable"):
            valueof = box["saved_attribute_attributes"]["valueof"]
            parameters[box["id"]] = [valueof["parameter_longname"], valueof["parameter_shortname"], 0]
    parameters["parameterbanks"] = {
        "0": {"index": 0, "name": "PCA", "parameters": [f"PC {k + 1}" for k in range(8)]}
    }
    parameters["inherited_shortname"] = 1

    patcher = {
        "fileversion": 1,
        "appversion": {"major": 8, "minor": 5, "revision": 5, "architecture": "x64", "modernui": 1},
        "classnamespace": "box",
        "rect": [100.0, 100.0, 1300.0, 980.0],
        "openrect": [0.0, 0.0, float(DEVICE_WIDTH), 169.0],
        "openinpresentation": 1,
        "default_fontsize": 10.0,
        "default_fontface": 0,
        "default_fontname": "Arial Bold",
        "gridonopen": 1,
        "gridsize": [8.0, 8.0],
        "gridsnaponopen": 1,
        "objectsnaponopen": 1,
        "statusbarvisible": 2,
        "toolbarvisible": 1,
        "boxanimatetime": 500,
        "enablehscroll": 1,
        "enablevscroll": 1,
        "devicewidth": float(DEVICE_WIDTH),
        "description": "vaesynth: play the latent-space synth from Live over OSC",
        "digest": "",
        "tags": "vaesynth OSC",
        "style": "",
        "subpatcher_template": "",
        "assistshowspatchername": 0,
        "boxes": p.boxes,
        "lines": p.lines,
        "parameters": parameters,
        "dependency_cache": [],
        "latency": 0,
        "is_mpe": 0,
        "external_mpe_tuning_enabled": 0,
        "minimum_live_version": "",
        "minimum_max_version": "",
        "platform_compatibility": 0,
        "autosave": 0,
    }
    return {"patcher": patcher}
