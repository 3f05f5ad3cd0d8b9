# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared module class of the ckpool.fleet modules.

:class:`CkpoolModule` owns the common argument spec (:func:`ckpool_argument_spec`),
its validation, the :class:`~ckpool.CkpoolClient` and ``fail()``/``exit()`` with
context (the commands sent so far and the socket directory).
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ckpool.fleet.plugins.module_utils.ckpool import CkpoolClient, CkpoolError, DEFAULT_SOCKET_DIR, DEFAULT_TIMEOUT


def ckpool_argument_spec():
    """Options every ckpool module shares; each module extends a copy of it."""
    return dict(
        socket_dir=dict(type='path', default=DEFAULT_SOCKET_DIR),
        timeout=dict(type='float', default=DEFAULT_TIMEOUT),
    )


class CkpoolModule:
    """AnsibleModule wrapper that owns the argument spec merge, the client and fail()."""

    def __init__(self, argument_spec=None, supports_check_mode=True, client_options=None, **kwargs):
        spec = ckpool_argument_spec()
        spec.update(argument_spec or {})
        self.module = AnsibleModule(argument_spec=spec, supports_check_mode=supports_check_mode, **kwargs)
        self.params = self.module.params
        self.check_mode = self.module.check_mode
        socket_dir = self.params['socket_dir']
        if not os.path.isabs(socket_dir):
            self.module.fail_json(msg='socket_dir must be an absolute path, got %r' % socket_dir,
                                  commands=[], changed=False)
        timeout = self.params['timeout']
        if timeout <= 0 or timeout > 3600:
            self.module.fail_json(msg='timeout must be > 0 and <= 3600 seconds, got %r' % timeout,
                                  commands=[], changed=False)
        options = dict(socket_dir=socket_dir, timeout=timeout, check_mode=self.check_mode)
        options.update(client_options or {})
        self.client = CkpoolClient(**options)

    def result_base(self):
        return dict(socket_dir=self.client.socket_dir, commands=self.client.audit)

    def fail(self, msg, **kwargs):
        result = self.result_base()
        result.setdefault('changed', False)
        result.update(kwargs)
        self.module.fail_json(msg=msg, **result)

    def fail_from(self, exc, prefix=None, **kwargs):
        msg = str(exc) if prefix is None else '%s: %s' % (prefix, exc)
        details = exc.to_dict() if isinstance(exc, CkpoolError) else dict(kind='error', message=str(exc))
        self.fail(msg, error=details, **kwargs)

    def exit(self, **kwargs):
        result = self.result_base()
        result.setdefault('changed', False)
        result.update(kwargs)
        self.module.exit_json(**result)
