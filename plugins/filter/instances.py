# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ckpool.fleet.instances: the ckpool instances of a host (the collection's one instance model).

Documentation lives in the sidecar file instances.yml; the logic in
plugins/module_utils/instance_model.py (shared with the modules).
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.ckpool.fleet.plugins.module_utils.instance_model import InstanceError, resolve


def instances(explicit, install_instances=None, install_config_defaults=None, install_run_root=None,
              install_log_root=None, install_conf_dir=None, install_home=None, install_bin_dir=None, install_quiet=True):
    """The explicit list when it is not empty, else the instances of the ckpool.fleet.install variables."""
    if explicit is None:
        explicit = []
    try:
        found = resolve(explicit=list(explicit), install_instances=install_instances,
                        config_defaults=install_config_defaults, run_root=install_run_root,
                        log_root=install_log_root, conf_dir=install_conf_dir, home=install_home,
                        bin_dir=install_bin_dir, quiet=install_quiet)
    except (InstanceError, TypeError) as exc:
        raise AnsibleFilterError('ckpool.fleet.instances: %s' % exc)
    return found


class FilterModule(object):
    """ckpool instance model filter."""

    def filters(self):
        """Return the filters of this plugin file."""
        return {'instances': instances}
