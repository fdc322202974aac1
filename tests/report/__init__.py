"""Tests of `vaesynth report`."""
