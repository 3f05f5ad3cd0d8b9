# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared pytest fixtures for the simulator tests: every simulator is stopped at teardown."""

from __future__ import annotations

import pytest

from ansible_collections.ckpool.fleet.tests.simulator.fixture import SimPool


@pytest.fixture
def make_sim():
    """Factory: make_sim(**SimPool kwargs) -> started SimPool, stopped (and its temp dir removed) after the test.

    SimPool makes its own short temp dir: unix socket paths must stay under 108 bytes.
    """
    pools = []

    def factory(**kwargs):
        pool = SimPool(**kwargs)
        pools.append(pool)
        return pool.start()

    yield factory
    for pool in pools:
        pool.stop()


@pytest.fixture
def sim(make_sim):
    return make_sim()
