"""Headless Chromium for page tests: what a user opening the report would see.

`load_check(page)` opens a copy of the page with a small script that waits for every <img> and <audio> to
load (or fail) and writes the outcome into the DOM, read back with `--dump-dom`. `screenshot(page, png)`
takes a screenshot. Chromium runs as root in CI, hence --no-sandbox, with a fresh profile each time.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

CHECK_SCRIPT = """<script>
window.addEventListener("load", async () => {
  const imgs = [...document.images].map(i => ({
    src: i.getAttribute("src"), ok: i.complete && i.naturalWidth > 0,
    width: i.naturalWidth, height: i.naturalHeight}));
  const auds = await Promise.all([...document.querySelectorAll("audio")].map(a => new Promise(res => {
    const done = ok => res({src: a.getAttribute("src"), ok, duration: a.duration});
    if (a.readyState >= 1) return done(true);
    a.addEventListener("loadedmetadata", () => done(true));
    a.addEventListener("error", () => done(false));
    a.load();
  })));
  const pre = document.createElement("pre");
  pre.id = "vaesynth-check";
  pre.textContent = JSON.stringify({imgs, auds});
  document.body.appendChild(pre);
});
</script>"""
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def _run(args: list[str], timeout_s: float = 90) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [chromium_path(), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )


def load_check(page: Path) -> dict:
    """{"imgs": [{src, ok, width, height}], "auds": [{src, ok, duration}]} as Chromium loaded them."""
    page = Path(page)
    probe = page.with_name("_check_" + page.name)  # same folder: relative links resolve the same
    probe.write_text(
        page.read_text(encoding="utf-8").replace("</body>", CHECK_SCRIPT + "</body>"), encoding="utf-8"
    )
    try:
        r = _run(["--virtual-time-budget=10000", "--dump-dom", probe.resolve().as_uri()])
    finally:
        probe.unlink()
    m = re.search(r'<pre id="vaesynth-check">(.*?)</pre>', r.stdout, re.S)
    if m is None:
        raise AssertionError(
            f"the check script did not report (chromium rc {r.returncode}): {r.stderr[-500:]}"
        )
    return json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 2400) -> Path:
    r = _run([f"--window-size={width},{height}", f"--screenshot={png}", Path(page).resolve().as_uri()])
    if not Path(png).exists():
        raise AssertionError(f"no screenshot (chromium rc {r.returncode}): {r.stderr[-500:]}")
    return Path(png)
