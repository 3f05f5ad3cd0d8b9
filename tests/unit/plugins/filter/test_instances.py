# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filter ckpool.fleet.instances (the instance model itself: tests/unit/plugins/module_utils)."""

import os

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.ckpool.fleet.plugins.filter.instances import FilterModule
from ansible_collections.ckpool.fleet.plugins.module_utils import instance_model as im

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))


def install_defaults():
    with open(os.path.join(ROOT, 'roles', 'install', 'defaults', 'main.yml')) as handle:
        return yaml.safe_load(handle)


def test_defaults_are_the_install_roles():
    """Defined once: the model's defaults are the install role's (a change to one must change the other)."""
    defaults = install_defaults()
    assert defaults['install_run_root'] == im.DEFAULT_RUN_ROOT
    assert defaults['install_log_root'] == im.DEFAULT_LOG_ROOT
    assert defaults['install_conf_dir'] == im.DEFAULT_CONF_DIR
    assert defaults['install_home'] == im.DEFAULT_HOME


def test_filter():
    instances = FilterModule().filters()['instances']
    got = instances([], [{'name': 'main'}], {'serverurl': ['0.0.0.0:4000']}, 'pools', None)
    assert got[0]['socket_dir'] == '/run/pools/main' and got[0]['stratum_port'] == 4000
    assert got[0]['log_dir'] == '/var/log/ckpool/main'
    assert instances(None) == []
    with pytest.raises(AnsibleFilterError) as exc:
        instances([{'name': 'a'}])
    assert 'ckpool.fleet.instances: instance a has no socket_dir' in str(exc.value)
    with pytest.raises(AnsibleFilterError):
        instances([], [{'name': 'Bad!'}])
