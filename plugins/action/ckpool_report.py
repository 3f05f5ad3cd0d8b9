# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ckpool.fleet.ckpool_report: write a JSON report on the controller.

Runs entirely on the controller (no module is sent to any host), so a report written after every
batch of a rolling restart costs milliseconds instead of two module runs. The file is written to a
temporary file in the destination directory and renamed over the destination (atomic for readers).
"""

import json
import os
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.action import ActionBase

ARGS = frozenset(('dest', 'content', 'mode'))


def _plain(value):
    """Template results as plain JSON types (lazy containers, tagged strings)."""
    if isinstance(value, dict):
        return dict((to_text(k), _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return to_text(value)


class ActionModule(ActionBase):
    """Write ``content`` as indented JSON to ``dest`` on the controller."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        unknown = sorted(set(args) - ARGS)
        if unknown:
            raise AnsibleActionFail('unsupported option(s): %s' % ', '.join(unknown))
        dest = args.get('dest')
        if not dest or not isinstance(dest, str):
            raise AnsibleActionFail('dest is required (a path on the controller)')
        dest = os.path.abspath(os.path.expanduser(dest))
        mode = args.get('mode', '0644')
        try:
            mode = int(str(mode), 8)
        except ValueError:
            raise AnsibleActionFail('mode must be an octal string such as "0644", got %r' % (mode,))
        if 'content' not in args:
            raise AnsibleActionFail('content is required')
        text = json.dumps(_plain(args['content']), indent=2, sort_keys=False) + '\n'
        data = to_bytes(text)
        try:
            with open(dest, 'rb') as handle:
                before = handle.read()
        except OSError:
            before = None
        changed = before != data
        result.update(changed=changed, dest=dest, size=len(data))
        if self._task.diff and changed:
            result['diff'] = dict(before=to_text(before) if before is not None else '', after=text,
                                  before_header=dest, after_header=dest)
        if self._task.check_mode or not changed:
            return result
        directory = os.path.dirname(dest)
        try:
            fd, tmp_path = tempfile.mkstemp(prefix='.' + os.path.basename(dest) + '.', suffix='.tmp', dir=directory)
        except OSError as exc:
            raise AnsibleActionFail('cannot write in %s: %s' % (directory, exc))
        try:
            with os.fdopen(fd, 'wb') as handle:
                handle.write(data)
            os.chmod(tmp_path, mode)
            os.replace(tmp_path, dest)
        except OSError as exc:
            try:
                os.unlink(tmp_path)
            except OSError:
                pass
            raise AnsibleActionFail('cannot write %s: %s' % (dest, exc))
        return result
