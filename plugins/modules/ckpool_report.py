#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
module: ckpool_report
short_description: Write a JSON report on the controller, atomically, without running anything on a host
version_added: 0.2.0
description:
  - Writes O(content) as indented JSON to O(dest) on the Ansible controller. The roles use it for the reports of
    ckpool.fleet.healthcheck and ckpool.fleet.rolling_restart (after every batch of a rollout).
  - Runs as an action plugin on the controller - no module is transferred to or run on any host, so it costs
    milliseconds where M(ansible.builtin.copy) delegated to localhost runs two modules.
  - The file is written to a hidden temporary file in the same directory, then renamed over O(dest), so a reader
    never sees a partial report. It is rewritten only when its content changes.
author:
  - ckpool.fleet contributors (@ckpool-fleet)
attributes:
  check_mode:
    support: full
    description: Can run in check_mode and return changed status prediction without modifying target.
    details: In check mode nothing is written; set C(check_mode) to V(false) on the task to write the report of a check run.
  diff_mode:
    support: full
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  action:
    support: full
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
options:
  dest:
    description: Path of the report on the controller. Its directory must exist.
    type: path
    required: true
  content:
    description: The data to write (a dict or list); written as JSON with an indent of 2 and a final newline.
    type: raw
    required: true
  mode:
    description: Permissions of the file, as an octal string.
    type: str
    default: "0644"
seealso:
  - module: ansible.builtin.copy
'''

EXAMPLES = r'''
- name: Write the fleet health report on the controller (also in check mode)
  ckpool.fleet.ckpool_report:
    dest: /var/lib/ckpool-fleet/health.json
    content: "{{ ansible_play_hosts_all | ckpool.fleet.health_rows(hostvars, ansible_play_hosts) | ckpool.fleet.health_report }}"
  run_once: true
  check_mode: false
'''

RETURN = r'''
dest:
  description: The absolute path written.
  returned: always
  type: str
  sample: /tmp/ckpool-fleet-health.json
size:
  description: Bytes of the report.
  returned: always
  type: int
  sample: 1830
'''

from ansible.module_utils.basic import AnsibleModule


def main():
    # Reached only when the action plugin is bypassed: the report lives on the controller.
    module = AnsibleModule(argument_spec=dict(dest=dict(type='path', required=True),
                                              content=dict(type='raw', required=True),
                                              mode=dict(type='str', default='0644')),
                           supports_check_mode=True)
    module.fail_json(msg='ckpool.fleet.ckpool_report runs on the controller through its action plugin; '
                         'it cannot run as a module on a host')


if __name__ == '__main__':
    main()
