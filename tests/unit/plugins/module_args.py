# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``patch_module_args(args)``: run a module's main() in-process with these arguments.

ansible-core 2.19 has ``ansible.module_utils.testing.patch_module_args`` (setting
``basic._ANSIBLE_ARGS`` there fails: "No serialization profile was specified"); older cores,
which the module unit tests also run on (ansible-core 2.16 on Python 3.6), read
``basic._ANSIBLE_ARGS``. Python 3.6 compatible.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

try:
    from ansible.module_utils.testing import patch_module_args  # ansible-core >= 2.19
except ImportError:  # ansible-core < 2.19

    @contextlib.contextmanager
    def patch_module_args(args=None):
        """Make AnsibleModule() read ``args`` (a dict) as its module arguments."""
        saved = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({'ANSIBLE_MODULE_ARGS': args or {}}))
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved

__all__ = ['patch_module_args']
