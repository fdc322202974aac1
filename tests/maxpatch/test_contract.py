"""What the front ends send, dispatched by the server's real control dispatcher (synth.controls.Controls on a
real Engine): every message is accepted, none dropped, and the PCA coordinates land where the knob said.

The model is an identity-PCA stand-in (latent = PCA coordinates, unit scale) so that the expected latent
state is known exactly; everything downstream of the model is the real code.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.maxpatch.maxsim import MaxSim
from tests.maxpatch.test_maxdevice import patcher  # noqa: F401 - fixture
from tests.maxpatch.test_puredata import FIXTURE, Listener, needs_pd, run_pd
from vaesynth.maxpatch import spec
from vaesynth.synth.config import SpectralConfig
from vaesynth.synth.controls import Controls
from vaesynth.synth.engine import Engine
from vaesynth.synth.protocol import Timbre

FEEDBACK = spec.address("feedback")  # the server's own business, not a synth control


class IdentityPCA:
    def __init__(self, n: int):
        self.mean = np.zeros(n)
        self.components = np.eye(n)
        self.scale = np.ones(n)


class IdentityInstrument:
    """TimbreSource whose PCA is the identity: pcs() == z."""

    def __init__(self, n_pcs: int = 8):
        self.latent_dim = self.n_pcs = n_pcs
        self.pca = IdentityPCA(n_pcs)
        self.config = SpectralConfig(sample_rate=48000, n_fft=256, hop_length=64)
        self.decoded: list[np.ndarray] = []

    def timbre_for_latent(self, z):
        self.decoded.append(np.array(z))
        return Timbre(np.ones(self.config.n_bins, np.float32), self.config, 220.0)


@pytest.fixture
def controls():
    return Controls(Engine(48000), IdentityInstrument())


def dispatch_all(controls: Controls, messages) -> list[bool]:
    return [controls.dispatch(address, list(args)) for address, *args in messages if address != FEEDBACK]


def test_max_device_messages_are_accepted_by_the_dispatcher(patcher, controls):  # noqa: F811
    sim = MaxSim(patcher)
    values = [0.5, -1.0, 1.5, -2.0, 2.5, -3.0, 0.25, 3.0]
    for k, v in enumerate(values):
        sim.receive(sim.find("live.dial", varname=f"PC {k + 1}"), 0, [v])
    sim.receive(sim.find("live.dial", varname="Gain"), 0, [-6.0])
    sim.receive(sim.find("live.menu"), 0, [1])
    notein = sim.find("newobj", "notein")
    sim.emit(notein, 1, [100])
    sim.emit(notein, 0, [60])
    sim.emit(sim.find("newobj", "bendin"), 0, [96])
    sim.receive(sim.find("message", "/vaesynth/panic"), 0, ["bang"])
    messages = sim.received[sim.find("newobj", "udpsend")]
    accepted = dispatch_all(controls, messages)
    assert len(accepted) == len(values) + 5 and all(accepted), controls.dropped
    assert controls.n_dropped == 0
    np.testing.assert_allclose(controls.pcs(), values, atol=1e-12)


@needs_pd
def test_pd_patch_messages_are_accepted_by_the_dispatcher(controls):
    listener = Listener()
    run_pd("-open", str(FIXTURE), "-send", f"vaesynth-test-port {listener.port}", "-send", "pd quit")
    messages = [(address, *args) for address, _, args in listener.messages()]
    accepted = dispatch_all(controls, messages)
    assert len(accepted) == len(spec.SENT) - 1 and all(accepted), controls.dropped
    assert controls.pcs()[3] == pytest.approx(1.5, abs=1e-6)
    assert np.count_nonzero(controls.pcs()) == 1
