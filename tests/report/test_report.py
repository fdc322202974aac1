"""`vaesynth report` as a user meets it: a tiny model's page opened in headless Chromium, every figure and
sound loaded and not blank, and the content checked against its references (eval metrics, the decoder,
the sweep's timbre)."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import matplotlib.image
import numpy as np
import pytest
import soundfile as sf

from tests.report.browser import chromium_path, load_check, screenshot
from tests.training.synthetic import tiny_config, write_npz
from vaesynth import cli

SWEEP_ARGS = ["--sweep-seconds", "1.0", "--quiet"]  # 0.5 s hold + 1 s sweep + 0.5 s hold per clip
HOLD_S, SWEEP_S = 0.5, 1.0


class Page(HTMLParser):
    """The parts of index.html the tests read: image and audio sources, the metrics table's cells."""

    def __init__(self, text: str):
        super().__init__()
        self.imgs, self.audios, self.rows = [], [], []
        self._in_metrics = False
        self._row = None
        self._cell = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a["src"])
        elif tag == "audio":
            self.audios.append(a["src"])
        elif tag == "table" and a.get("id") == "metrics":
            self._in_metrics = True
        elif self._in_metrics and tag == "tr":
            self._row = []
        elif self._in_metrics and tag == "td" and self._row is not None:
            self._cell = {"text": "", "value": a.get("data-value")}

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_metrics = False
        elif tag == "td" and self._cell is not None:
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data


def spectral_centroid_hz(x: np.ndarray, rate: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float((spec * np.fft.rfftfreq(len(x), 1 / rate)).sum() / spec.sum())


def magnitude_centroid_hz(mags: np.ndarray, bin_hz: float) -> float:
    return float((mags * np.arange(mags.size) * bin_hz).sum() / mags.sum())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from vaesynth.training.trainer import train

    d = tmp_path_factory.mktemp("report")
    data = write_npz(d, n_sounds=40)
    return data, train(tiny_config(data, d / "tiny.pt", epochs=20))


@pytest.fixture(scope="module")
def report(trained, tmp_path_factory):
    _, model = trained
    out = tmp_path_factory.mktemp("page") / "report"
    assert cli.main(["report", "--model", str(model), "--out", str(out), *SWEEP_ARGS]) == 0
    return out


def test_report_page_loads_every_figure_and_sound_in_chromium(report, tmp_path):
    if chromium_path() is None:
        pytest.skip("chromium is not installed")
    page = Page((report / "index.html").read_text())
    check = load_check(report / "index.html")
    assert [i["src"] for i in check["imgs"]] == page.imgs and len(page.imgs) >= 8
    assert all(i["ok"] and i["width"] > 100 and i["height"] > 100 for i in check["imgs"]), check["imgs"]
    assert [a["src"] for a in check["auds"]] == page.audios and len(page.audios) >= 2
    for a in check["auds"]:
        n, rate = sf.info(str(report / a["src"])).frames, sf.info(str(report / a["src"])).samplerate
        assert a["ok"] and a["duration"] == pytest.approx(n / rate, abs=0.01), a
    shot = matplotlib.image.imread(screenshot(report / "index.html", tmp_path / "shot.png"))
    assert shot.shape[0] >= 1000 and np.std(shot[..., :3]) > 0.05  # a page, not a blank or uniform screen


def test_report_files_exist_decode_and_are_not_blank(report):
    page = Page((report / "index.html").read_text())
    names = set(page.imgs)
    for expected in (
        "training_curves.png",
        "reconstructions.png",
        "traversal_latent.png",
        "traversal_pca.png",
        "explained_variance.png",
        "kl_per_dim.png",
    ):
        assert expected in names
    assert sum(n.startswith("pca_map_") for n in names) == 2  # slope_db, n_harmonics (pitch is constant)
    for name in page.imgs:
        img = matplotlib.image.imread(report / name)
        # Figures are mostly white: a drawn one still has a pixel std of several percent of full scale.
        assert np.std(img[..., :3]) > 0.03, name
    peaks = []
    for name in page.audios:
        x, rate = sf.read(report / name, dtype="float32")
        assert rate == 48000 and len(x) >= int((2 * HOLD_S + SWEEP_S) * rate)
        assert np.all(np.isfinite(x)) and np.abs(x).max() > 1e-3, name  # sounding, not silent
        peaks.append(np.abs(x).max())
    # One gain for all clips: the loudest peaks at -1 dBFS (16-bit rounding aside), the others keep theirs.
    assert max(peaks) == pytest.approx(10 ** (-1 / 20), abs=1e-3)


def test_report_metrics_table_matches_evaluate(report, trained):
    from vaesynth.models.instrument import load_instrument
    from vaesynth.report.tables import lookup
    from vaesynth.training.evaluation import evaluate, select_for_eval

    data, model = trained
    inst = load_instrument(model, num_threads=None)
    selection = select_for_eval(inst, str(data), progress=False)
    assert selection.held_out  # the recorded training data is found and only its held-out sounds are used
    reference = evaluate(inst, selection.dataset)
    rows = Page((report / "index.html").read_text()).rows
    keys = {row[1]["text"] for row in rows}
    for key in (
        "lsd_db",
        "spectral_convergence",
        "active_units",
        "mig",
        "mig_per_factor.slope_db",
        "n_components_for.90",
        "kl_per_dim.0",
        "pca_explained_variance.0",
    ):
        assert key in keys
    for row in rows:
        key, cell = row[1]["text"], row[2]
        expected = lookup(reference, key)
        assert float(cell["value"]) == pytest.approx(expected, rel=1e-6, abs=1e-9), key
        assert float(cell["text"]) == pytest.approx(expected, rel=1e-3, abs=1e-9), key  # 4 significant digits
    saved = json.loads((report / "metrics.json").read_text())
    assert saved["lsd_db"] == pytest.approx(reference["lsd_db"], rel=1e-6)
    assert saved["split"] == "held-out"


def test_report_traversals_match_the_decoder_and_change_along_each_axis(report, trained):
    from vaesynth.models.instrument import load_instrument
    from vaesynth.training.metrics import lsd_db

    inst = load_instrument(trained[1], num_threads=None)
    t = np.load(report / "traversals.npz")
    values, pca, latent = t["values"], t["pca"], t["latent"]
    np.testing.assert_allclose(values, np.linspace(-3, 3, 7))
    assert pca.shape == (inst.n_pcs, 7, inst.config.n_bins) and latent.shape[0] == inst.latent_dim
    pcs = np.zeros((7, 2))
    pcs[:, 1] = values
    np.testing.assert_allclose(pca[1], inst.decode_pcs(pcs), rtol=1e-5, atol=1e-7)
    z = np.repeat(np.asarray(inst.pca.mean, np.float32)[None], 7, axis=0)
    z[:, 0] = values
    np.testing.assert_allclose(latent[0], inst.decode_latent(z), rtol=1e-5, atol=1e-7)
    # PC 1 (most variance) changes the decoded spectrum audibly from one end to the other.
    assert lsd_db(pca[0, :1], pca[0, -1:]) > 3.0


def test_report_sweep_timbre_follows_the_decoded_spectra(report, trained):
    from vaesynth.models.instrument import load_instrument

    inst = load_instrument(trained[1], num_threads=None)
    x, rate = sf.read(report / "sweep_pc1.wav", dtype="float32")
    start = x[int(0.1 * rate) : int((HOLD_S - 0.05) * rate)]
    end_at = HOLD_S + SWEEP_S
    end = x[int((end_at + 0.05) * rate) : int((end_at + HOLD_S - 0.05) * rate)]
    c_start, c_end = spectral_centroid_hz(start, rate), spectral_centroid_hz(end, rate)
    bin_hz = inst.config.sample_rate / inst.config.n_fft
    ref_start = magnitude_centroid_hz(inst.decode_pcs([-3.0]), bin_hz)
    ref_end = magnitude_centroid_hz(inst.decode_pcs([3.0]), bin_hz)
    assert abs(ref_end - ref_start) > 0.1 * min(ref_start, ref_end)  # the axis does change the timbre
    # The rendered note's brightness moves the way the decoded spectra do, by a clear margin.
    assert np.sign(c_end - c_start) == np.sign(ref_end - ref_start)
    assert abs(c_end - c_start) > 0.1 * min(c_start, c_end)


def test_report_without_data_skips_its_figures_with_a_note(tmp_path, capsys):
    from vaesynth.training.trainer import train

    data = write_npz(tmp_path, n_sounds=16)
    model = train(tiny_config(data, tmp_path / "gone.pt", epochs=3))
    data.unlink()  # the recorded training data is gone
    out = tmp_path / "out"
    assert (
        cli.main(["report", "--model", str(model), "--out", str(out), "--sweep-seconds", "0.2", "--quiet"])
        == 0
    )
    summary = capsys.readouterr().out.strip().splitlines()
    assert len(summary) == 1 and "skipped" in summary[0]
    text = (out / "index.html").read_text()
    assert text.count("Skipped:") == 4  # metrics, reconstructions, PCA map, KL per dimension
    assert not (out / "reconstructions.png").exists() and not (out / "metrics.json").exists()
    assert (out / "traversal_pca.png").exists() and (out / "sweep_pc1.wav").exists()
    for src in Page(text).imgs + Page(text).audios:
        assert (out / src).is_file()


def test_report_user_errors_are_one_line(trained, tmp_path, capsys):
    _, model = trained
    foreign = tmp_path / "foreign.pt"
    foreign.write_bytes(b"not a checkpoint")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cases = [
        ["--model", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "a")],
        ["--model", str(foreign), "--out", str(tmp_path / "b")],
        ["--model", str(model), "--out", str(blocker / "sub")],  # parent is a file: cannot be created
        ["--model", str(model), "--out", str(blocker)],
        ["--compare", str(model), "--out", str(tmp_path / "c")],
    ]
    for args in cases:
        assert cli.main(["report", *args, "--quiet"]) != 0, args
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err and "internal error" not in err, err


def test_report_compare_puts_models_side_by_side(report, trained, tmp_path, capsys):
    from vaesynth.training.trainer import train

    data, model = trained
    other = train(tiny_config(data, tmp_path / "tiny.pt", epochs=6, beta=4.0))  # same stem: labels differ
    out = tmp_path / "cmp"
    assert cli.main(["report", "--compare", str(model), str(other), "--out", str(out), *SWEEP_ARGS]) == 0
    assert "compared 2 models" in capsys.readouterr().out
    page = Page((out / "index.html").read_text())
    labels = list(json.loads((out / "metrics.json").read_text()))
    assert len(labels) == 2 and labels[0] != labels[1]
    single = json.loads((report / "metrics.json").read_text())
    lsd_row = next(r for r in page.rows if r[1]["text"] == "lsd_db")
    # The first model's column is the single-model report's number (same held-out data).
    assert float(lsd_row[2]["value"]) == pytest.approx(single["lsd_db"], rel=1e-6)
    assert float(lsd_row[3]["value"]) != pytest.approx(single["lsd_db"], rel=1e-3)
    assert sum("traversal_pca_" in s for s in page.imgs) == 2 and len(page.audios) == 2
    for src in page.imgs + page.audios:
        assert (out / src).is_file()


def test_unique_labels_tell_same_named_checkpoints_apart():
    from vaesynth.report.compare import unique_labels

    assert unique_labels(["runs/a.pt", "runs/b.pt"]) == ["a", "b"]
    assert unique_labels(["seed1/model.pt", "seed2/model.pt", "x/other.pt"]) == [
        "seed1-model",
        "seed2-model",
        "other",
    ]
    # Same folder name and stem twice: numbered; odd characters never reach a file name.
    assert unique_labels(["a/m.pt", "b/a/m.pt", "c d/n&.pt"]) == ["a-m-1", "a-m-2", "n_"]


def test_report_on_other_data_uses_all_its_frames(trained, tmp_path):
    from vaesynth.datasets import load_dataset
    from vaesynth.models.instrument import load_instrument
    from vaesynth.training.evaluation import evaluate

    other = write_npz(tmp_path, name="other.npz", n_sounds=6, seed=7)
    out = tmp_path / "out"
    args = ["report", "--model", str(trained[1]), "--out", str(out), "--data", str(other)]
    assert cli.main([*args, "--sweep-seconds", "0.2", "--quiet"]) == 0
    saved = json.loads((out / "metrics.json").read_text())
    reference = evaluate(load_instrument(trained[1], num_threads=None), load_dataset(str(other)))
    assert saved["split"] == "all" and saved["n_frames"] == 48
    assert saved["lsd_db"] == pytest.approx(reference["lsd_db"], rel=1e-6)
    assert saved["mig"] == pytest.approx(reference["mig"], rel=1e-6)
