# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugins/module_utils/modes.py against ckpool.c main() (and the simulator, which implements the same rules
independently: both must agree)."""

from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.ckpool.fleet.plugins.module_utils import modes
from ansible_collections.ckpool.fleet.tests.simulator import ckpool_sim


@pytest.mark.parametrize('letters, argv0, mode', [
    ('', None, 'pool'),
    ('B', None, 'solo'),
    ('p', None, 'proxy'),
    ('u', None, 'userproxy'),
    ('P', None, 'passthrough'),
    ('N', None, 'node'),
    ('R', None, 'redirector'),
    ('kqHL', None, 'pool'),           # other flags do not change the mode
    ('', '/opt/ckpool/bin/ckproxy', 'proxy'),   # ckpool.c: basename(argv[0]) == "ckproxy"
    ('t', None, 'pool'),              # trusted remote server: a pool
])
def test_mode_from_letters(letters, argv0, mode):
    assert modes.mode_from_letters(letters, argv0=argv0) == mode


@pytest.mark.parametrize('letters, argv0, message', [
    ('pB', None, 'Cannot set both proxy and btcsolo mode'),
    ('B', 'ckproxy', 'Cannot set both proxy and btcsolo mode'),
    ('PN', None, 'Cannot set another proxy type or redirector and node mode'),
    ('pP', None, 'Cannot set another proxy type or redirector and passthrough mode'),
    ('up', None, 'Cannot set another proxy type or redirector and proxy mode'),
    ('NR', None, 'Cannot set a proxy type or passthrough and redirector modes'),
    ('pt', None, 'Cannot set a proxy type and trusted remote mode'),
    ('Ru', None, 'Cannot set both userproxy and another proxy type or redirector'),
])
def test_refused_combinations(letters, argv0, message):
    with pytest.raises(modes.ModeError, match=message):
        modes.mode_from_letters(letters, argv0=argv0)


def test_bp_is_accepted_like_ckpool():
    """-B then -p: ckpool's 'p' case does not check btcsolo, so both are set (proxy wins)."""
    assert modes.mode_from_letters('Bp') == 'proxy'


@pytest.mark.parametrize('mode, name', [
    ('pool', 'ckpool'), ('solo', 'ckpool'), ('proxy', 'ckproxy'), ('userproxy', 'ckproxy'),
    ('passthrough', 'ckpassthrough'), ('node', 'cknode'), ('redirector', 'ckredirector'),
])
def test_default_names(mode, name):
    assert modes.default_name(mode) == name


def test_simulator_agrees():
    """The simulator derives modes and names on its own; a disagreement means one of them is wrong."""
    flags = {'pool': [], 'solo': ['-B'], 'proxy': ['-p'], 'userproxy': ['-u'], 'passthrough': ['-P'],
             'node': ['-N'], 'redirector': ['-R']}
    for mode in modes.MODES:
        assert ckpool_sim.ckpool_mode(flags[mode]) == mode
        assert ckpool_sim.DEFAULT_NAMES[mode] == modes.default_name(mode)
        assert modes.mode_facts(mode)['flag'] == (flags[mode][0] if flags[mode] else None)


def test_tiers_and_files():
    assert [m for m in modes.MODES if modes.tier(m) == 'pool'] == ['pool', 'solo']
    assert all(modes.tier(m) in modes.TIERS for m in modes.MODES)
    assert not modes.expects_pool_status('passthrough') and not modes.expects_pool_status('redirector')
    assert modes.expects_pool_status('proxy') and modes.expects_pool_status('solo')
    assert modes.mode_facts('solo')['stats_extra'] == ('userwbs',)
    assert modes.mode_facts('proxy')['auth_line'] == 'proxy'
    assert not modes.logs_authorisations('passthrough')
    facts = modes.mode_facts('pool')
    facts['tier'] = 'changed'
    assert modes.tier('pool') == 'pool'          # a copy: callers cannot corrupt the table


@pytest.mark.parametrize('bad', ['Pool', '', None, 'btcsolo', 'pool '])
def test_unknown_mode_refused(bad):
    with pytest.raises(ValueError):
        modes.mode_facts(bad)
    with pytest.raises(ValueError):
        modes.default_name(bad)


def test_check_tier():
    assert modes.check_tier('node') == 'node'
    with pytest.raises(ValueError):
        modes.check_tier('solo')
    assert modes.long_flag_letter('btcsolo') == 'B' and modes.long_flag_letter('config') is None
