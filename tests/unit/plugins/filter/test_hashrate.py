# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the ckpool.fleet.hashrate and ckpool.fleet.hashrate_human filters.

The filters are exercised directly and through Ansible's real templating engine,
resolved by their fully qualified names.
"""

import json
import os

import pytest

from ansible.errors import AnsibleError, AnsibleFilterError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.ckpool.fleet.plugins.filter import hashrate as hashrate_filter


FIXTURES = os.path.join(os.path.dirname(__file__), '..', 'module_utils', 'fixtures', 'ckpool_files')


def render(expression, variables=None):
    templar = Templar(loader=DataLoader(), variables=variables or {})
    return templar.template(trust_as_template(expression))


def test_filter_module_exports_both_filters():
    filters = hashrate_filter.FilterModule().filters()
    assert sorted(filters) == ['hashrate', 'hashrate_human']
    assert filters['hashrate']('8.71M') == 8710000.0
    assert filters['hashrate_human'](8710000) == '8.71M'


def test_capture_pool_status_through_filters():
    with open(os.path.join(FIXTURES, 'pool.status')) as handle:
        lines = [json.loads(line) for line in handle]
    rates = lines[1]
    assert len(rates) == 7
    for raw in rates.values():
        value = hashrate_filter.hashrate(raw)
        assert isinstance(value, float)
        assert hashrate_filter.hashrate_human(value) == raw


@pytest.mark.parametrize('bad', ['', '8.71k', 'abc', '-1', None, True])
def test_hashrate_filter_error(bad):
    with pytest.raises(AnsibleFilterError) as excinfo:
        hashrate_filter.hashrate(bad)
    assert 'ckpool.fleet.hashrate' in str(excinfo.value)
    assert repr(bad) in str(excinfo.value)


@pytest.mark.parametrize('bad', [-5, 'x', None, float('nan')])
def test_hashrate_human_filter_error(bad):
    with pytest.raises(AnsibleFilterError) as excinfo:
        hashrate_filter.hashrate_human(bad)
    assert 'ckpool.fleet.hashrate_human' in str(excinfo.value)


def test_templated_by_fqcn():
    assert render("{{ '8.71M' | ckpool.fleet.hashrate }}") == 8710000.0
    assert render("{{ 8710000 | ckpool.fleet.hashrate_human }}") == '8.71M'
    assert render("{{ 114.9 | ckpool.fleet.hashrate_human }}") == '114'
    assert render("{{ '21.3K' | ckpool.fleet.hashrate | ckpool.fleet.hashrate_human }}") == '21.3K'


def test_templated_examples_from_docs():
    workers = [{'hashrate_raw': {'1m': '864K'}}, {'hashrate_raw': {'1m': '1.2M'}}]
    total = render("{{ workers | map(attribute='hashrate_raw') | map(attribute='1m') "
                   "| map('ckpool.fleet.hashrate') | sum }}", {'workers': workers})
    assert total == 2064000.0
    pools = [{'hashrate': {'1m': 8710000.0}}, {'hashrate': {'1m': 1290000.0}}]
    assert render("{{ pools | map(attribute='hashrate') | map(attribute='1m') | sum "
                  "| ckpool.fleet.hashrate_human }}", {'pools': pools}) == '10M'


def test_templated_error_is_reported():
    with pytest.raises(AnsibleError) as excinfo:
        render("{{ 'lots' | ckpool.fleet.hashrate }}")
    assert "'lots'" in str(excinfo.value)
