# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a module's main() in-process with real arguments (patch_module_args, any supported core)."""

import json

import pytest

from ansible.module_utils import basic
from ansible_collections.ckpool.fleet.tests.unit.plugins.module_args import patch_module_args


class ModuleResult(Exception):
    def __init__(self, result, failed):
        super(ModuleResult, self).__init__(result)
        self.result = result
        self.failed = failed


def _exit_json(self, **kwargs):
    raise ModuleResult(kwargs, False)


def _fail_json(self, msg, **kwargs):
    kwargs['msg'] = msg
    kwargs['failed'] = True
    raise ModuleResult(kwargs, True)


@pytest.fixture
def run_module(monkeypatch):
    """``run_module(module, args, check_mode=False, diff=False) -> (result, failed)``."""
    monkeypatch.setattr(basic.AnsibleModule, 'exit_json', _exit_json)
    monkeypatch.setattr(basic.AnsibleModule, 'fail_json', _fail_json)

    def run(module, args, check_mode=False, diff=False):
        args = dict(args)
        args['_ansible_check_mode'] = check_mode
        args['_ansible_diff'] = diff
        with patch_module_args(args):
            try:
                module.main()
            except ModuleResult as outcome:
                # results must be JSON-serialisable like a real module run
                json.dumps(outcome.result)
                return outcome.result, outcome.failed
        raise AssertionError('module returned without exit_json/fail_json')
    return run
