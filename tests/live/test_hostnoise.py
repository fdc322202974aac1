"""The live tests' rerun rule: a session with xruns is run again only when the host stalled this VM during
it (steal, or jackd's driver thread waking late), a bounded number of times, each once the host is quiet,
and the last run is what the tests then check (so they still fail)."""

from __future__ import annotations

import pytest

from tests.live import hostnoise


@pytest.fixture
def steal(monkeypatch):
    """Scripted /proc/stat steal readings; no real sleeping."""
    readings: list[int] = []
    monkeypatch.setattr(hostnoise, "host_steal_ticks", lambda: readings.pop(0))
    monkeypatch.setattr(hostnoise.time, "sleep", lambda s: None)
    monkeypatch.setattr(hostnoise, "wait_for_quiet", lambda: True)
    return readings


def sessions(*xruns):
    runs = iter(xruns)
    return lambda: {"exit": {"xruns": next(runs), "device_xruns": 0}}


def test_a_clean_run_is_not_repeated(steal):
    steal += [0, 50]  # even with steal
    obs = hostnoise.undisturbed(sessions(0, 0), "exit")
    assert obs["attempts"] == 1 and obs["steal_ticks"] == 50


def test_xruns_without_steal_are_ours_and_kept(steal):
    steal += [10, 10]
    obs = hostnoise.undisturbed(sessions(3, 0), "exit")
    assert obs["attempts"] == 1 and obs["exit"]["xruns"] == 3


def test_xruns_during_steal_are_run_again_until_a_clean_run(steal):
    steal += [0, 9, 9, 30, 30, 30]
    obs = hostnoise.undisturbed(sessions(5, 2, 0), "exit")
    assert obs["attempts"] == 3 and obs["exit"]["xruns"] == 0 and obs["steal_ticks"] == 0


def test_at_most_attempts_runs_and_the_last_one_is_checked(steal):
    steal += [0, 9, 9, 18, 18, 27]
    obs = hostnoise.undisturbed(sessions(1, 1, 4, 0), "exit", attempts=3)
    assert obs["attempts"] == 3 and obs["exit"]["xruns"] == 4


def test_device_xruns_count_too(steal):
    steal += [0, 9, 9, 9]
    runs = iter([{"exit": {"xruns": 0, "device_xruns": 2}}, {"exit": {"xruns": 0, "device_xruns": 0}}])
    obs = hostnoise.undisturbed(lambda: next(runs), "exit")
    assert obs["attempts"] == 2


def test_jackd_driver_waking_late_counts_as_a_stall(steal, tmp_path):
    """No steal, but jackd's own driver thread logged a late cycle during the run: the host's doing."""
    log = tmp_path / "jackd.log"
    log.write_text("JackTimedDriver::Process XRun = 900 usec\n")  # before the run: not counted
    steal += [0, 0, 0, 0]

    def run(xruns, late_lines):
        def session():
            with open(log, "a") as f:
                f.write("JackEngine::XRun: client = vst was not finished, state = Triggered\n")
                f.write("JackTimedDriver::Process XRun = 3458 usec\n" * late_lines)
            return {"exit": {"xruns": xruns, "device_xruns": 0}}

        return session

    runs = iter([run(2, 3), run(1, 0)])
    obs = hostnoise.undisturbed(lambda: next(runs)(), "exit", jack_log=str(log))
    # the first run's xruns came with 3 late driver cycles: run again; the second's came with none: kept
    assert obs["attempts"] == 2 and obs["driver_late"] == 0 and obs["exit"]["xruns"] == 1


def test_an_unknown_or_missing_jackd_log_is_no_evidence(tmp_path):
    assert hostnoise.driver_late_wakeups(None, 0) == 0
    assert hostnoise.driver_late_wakeups(str(tmp_path / "gone.log"), 0) == 0


def test_a_rerun_waits_for_a_second_without_steal(monkeypatch):
    readings = [10, 14, 14, 14]  # a window with 4 ticks stolen, then a quiet one
    monkeypatch.setattr(hostnoise, "host_steal_ticks", lambda: readings.pop(0))
    monkeypatch.setattr(hostnoise.time, "sleep", lambda s: None)
    assert hostnoise.wait_for_quiet() and readings == []
    assert not hostnoise.wait_for_quiet(max_s=0.0)  # no time left: run anyway
