# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every role's meta/argument_specs.yml (entry point main) equals its defaults/main.yml:
the same variables, with the same default values, and every option documented."""

from __future__ import annotations

import os

import pytest
import yaml

ROLES_DIR = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'roles'))
ROLES = sorted(name for name in os.listdir(ROLES_DIR) if os.path.isdir(os.path.join(ROLES_DIR, name)))


def load(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def test_there_are_roles():
    assert {'install', 'healthcheck', 'rolling_restart'} <= set(ROLES)


@pytest.mark.parametrize('role', ROLES)
def test_argument_specs_equal_defaults(role):
    defaults = load(os.path.join(ROLES_DIR, role, 'defaults', 'main.yml')) or {}
    specs = load(os.path.join(ROLES_DIR, role, 'meta', 'argument_specs.yml'))
    options = specs['argument_specs']['main']['options']
    assert sorted(options) == sorted(defaults), 'variables differ between defaults and argument_specs'
    for name, value in defaults.items():
        option = options[name]
        assert 'default' in option, '%s: no default in argument_specs' % name
        assert option['default'] == value, '%s: default %r in argument_specs, %r in defaults' % (
            name, option['default'], value)
        assert option.get('description'), '%s is not documented' % name
        assert option.get('type'), '%s has no type' % name


@pytest.mark.parametrize('role', ROLES)
def test_other_entry_points_agree_with_defaults(role):
    """Options repeated in other entry points (tasks_from) have the same defaults."""
    defaults = load(os.path.join(ROLES_DIR, role, 'defaults', 'main.yml')) or {}
    specs = load(os.path.join(ROLES_DIR, role, 'meta', 'argument_specs.yml'))['argument_specs']
    for entry, spec in specs.items():
        for name, option in (spec.get('options') or {}).items():
            assert name in defaults, '%s: %s is not in defaults/main.yml' % (entry, name)
            assert option.get('default') == defaults[name], '%s: %s default differs' % (entry, name)
