"""The hypervisor's share in a live test's xruns: this VM's CPUs are sometimes given to other guests for
tens of milliseconds, and then the JACK dummy driver's own thread wakes late and no client can keep up.
`undisturbed` runs a live session again when that happened during a run with xruns."""

from __future__ import annotations

import os
import time


def host_steal_ticks() -> int:
    """CPU time the hypervisor has given to others so far, in clock ticks summed over this VM's CPUs
    (/proc/stat 'steal'); 0 where unknown."""
    try:
        with open("/proc/stat") as f:
            return int(f.readline().split()[8])
    except (OSError, ValueError, IndexError):
        return 0


# Stolen CPU time during one few-second session above which xruns may be the host's: on this VM the JACK
# dummy driver's own thread then wakes late (benchmarks/README.md: idle jackd logs late wake-ups in bursts
# that come with steal), and a client cannot play through that.
HOST_STALL_TICKS = 2


def driver_late_wakeups(jack_log: str | None, offset: int) -> int:
    """Times the JACK dummy driver's own thread finished a cycle after the next had begun, logged by jackd
    ("JackTimedDriver::Process XRun") past byte `offset` of its log; 0 where the log is unknown. jackd runs
    it at realtime priority 70, above every client thread, so when it wakes late the host held this VM's
    CPUs, not a client."""
    if not jack_log:
        return 0
    try:
        with open(jack_log, "rb") as f:
            f.seek(offset)
            return f.read().count(b"JackTimedDriver::Process XRun")
    except OSError:
        return 0


def log_size(jack_log: str | None) -> int:
    try:
        return os.path.getsize(jack_log) if jack_log else 0
    except OSError:
        return 0


def undisturbed(run_session, exit_key: str, attempts: int = 4, jack_log: str | None = None) -> dict:
    """Run a live session (`run_session()` returns its observations, the server's exit info under
        `exit_key`). While a run had xruns (ring or device) and the host stalled this VM during it (the
        hypervisor took CPU time, or jackd's driver thread woke late: `jack_log` is jackd's log where the test
        session started it), run it again, up to `attempts` times, each once the host is quiet for a second
    (`wait_for_quiet`). Returns the last run's
        observations with `attempts`, `steal_ticks` and `driver_late` added. The tests' assertions are
        unchanged: they must hold for a run the host did not stall, and fail when every run had xruns."""
    for k in range(1, attempts + 1):
        if k > 1:
            wait_for_quiet()
        s0, at = host_steal_ticks(), log_size(jack_log)
        obs = run_session()
        stolen = host_steal_ticks() - s0
        late = driver_late_wakeups(jack_log, at)
        obs["attempts"], obs["steal_ticks"], obs["driver_late"] = k, stolen, late
        ex = obs[exit_key]
        if ex.get("xruns", 0) + ex.get("device_xruns", 0) == 0 or (stolen < HOST_STALL_TICKS and late == 0):
            return obs
    return obs


def wait_for_quiet(window_s: float = 1.0, max_s: float = 30.0) -> bool:
    """Before running a disturbed session again: wait (at most max_s) for a window of window_s in which the
    hypervisor took no CPU time from this VM; steal comes in bursts that last seconds to minutes here.
    Returns whether one came."""
    deadline = time.monotonic() + max_s
    while time.monotonic() < deadline:
        s0 = host_steal_ticks()
        time.sleep(window_s)
        if host_steal_ticks() == s0:
            return True
    return False
