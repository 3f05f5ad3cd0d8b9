# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``ckpool.fleet.alert_rules`` filter: the shipped Prometheus rules file with per-alert overrides.

The one documented way to change the collection's alerting rules without editing a copy: per alert,
the ``for:`` duration and extra or changed labels, or leaving the alert out. Everything else (the
expressions, annotations) stays as shipped. Documentation: ``alert_rules.yml`` beside this file.
"""

from __future__ import annotations

import re

from collections.abc import Mapping

import yaml

from ansible.errors import AnsibleFilterError

# A Prometheus duration (model.ParseDuration): units from largest to smallest, each at most once.
DURATION = re.compile(r'^(?=\d)(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$')
LABEL_NAME = re.compile(r'^[a-zA-Z_][a-zA-Z0-9_]*$')
OVERRIDE_KEYS = ('for', 'labels')


class _Dumper(yaml.SafeDumper):
    """Block style; multi-line strings as literal blocks; no anchors."""

    def ignore_aliases(self, data):
        return True


def _str_presenter(dumper, data):
    style = '|' if '\n' in data else None
    return dumper.represent_scalar('tag:yaml.org,2002:str', data, style=style)


_Dumper.add_representer(str, _str_presenter)


def _fail(message):
    raise AnsibleFilterError('alert_rules: %s' % message)


def _alerts(doc):
    if not isinstance(doc, Mapping) or not isinstance(doc.get('groups'), list):
        _fail('the rules file must be a mapping with a list of groups')
    found = {}
    for group in doc['groups']:
        if not isinstance(group, Mapping) or not isinstance(group.get('rules'), list):
            _fail('every group must be a mapping with a list of rules')
        for rule in group['rules']:
            if isinstance(rule, Mapping) and 'alert' in rule:
                found[str(rule['alert'])] = rule
    return found


def alert_rules(rules, overrides=None, disabled=None, source=None):
    """Apply per-alert overrides to a Prometheus rules file (YAML text or parsed); return YAML text."""
    if isinstance(rules, (str, bytes)):
        try:
            doc = yaml.safe_load(rules)
        except yaml.YAMLError as exc:
            _fail('the rules file is not YAML: %s' % exc)
    else:
        doc = rules
    # a deep copy made of plain types: the input (maybe a variable) is never changed
    doc = yaml.safe_load(yaml.dump(_plain(doc), Dumper=_Dumper, sort_keys=False))
    overrides = {} if overrides is None else overrides
    disabled = [] if disabled is None else disabled
    if not isinstance(overrides, Mapping):
        _fail('overrides must be a dict of alert name -> {for, labels}')
    if isinstance(disabled, (str, bytes)) or not isinstance(disabled, (list, tuple)):
        _fail('disabled must be a list of alert names')

    alerts = _alerts(doc)
    unknown = sorted((set(map(str, overrides)) | set(map(str, disabled))) - set(alerts))
    if unknown:
        _fail('unknown alert(s) %s; the rules file has %s' % (', '.join(unknown), ', '.join(sorted(alerts))))

    for name, change in overrides.items():
        name = str(name)
        if not isinstance(change, Mapping):
            _fail('the override of %s must be a dict with for and/or labels' % name)
        bad = sorted(set(map(str, change)) - set(OVERRIDE_KEYS))
        if bad:
            _fail('the override of %s may set only %s, not %s' % (name, ' and '.join(OVERRIDE_KEYS), ', '.join(bad)))
        rule = alerts[name]
        if 'for' in change:
            duration = change['for']
            if not isinstance(duration, str) or not DURATION.match(duration):
                _fail('for of %s must be a Prometheus duration such as 30s, 5m or 1h30m, not %r' % (name, duration))
            rule['for'] = duration
        if 'labels' in change:
            labels = change['labels']
            if not isinstance(labels, Mapping):
                _fail('labels of %s must be a dict of label name -> value' % name)
            merged = dict(rule.get('labels') or {})
            for key, value in labels.items():
                if not isinstance(key, str) or not LABEL_NAME.match(key) or key.startswith('__'):
                    _fail('%r is not a label name (override of %s)' % (key, name))
                if value is None:
                    merged.pop(key, None)
                elif isinstance(value, str):
                    merged[key] = str.__str__(value)
                elif isinstance(value, (int, float)) and not isinstance(value, bool):
                    merged[key] = str(value)
                else:
                    _fail('label %s of %s must be a string (or null to remove it)' % (key, name))
            rule['labels'] = merged
            if not merged:
                rule.pop('labels')

    drop = set(map(str, disabled))
    for group in doc['groups']:
        group['rules'] = [r for r in group['rules'] if not (isinstance(r, Mapping) and str(r.get('alert')) in drop)]
    doc['groups'] = [g for g in doc['groups'] if g['rules']]
    if not doc['groups']:
        _fail('every alert is disabled: nothing would be installed')

    header = '# Prometheus alerting rules of ckpool.fleet%s.\n' % (' (%s)' % source if source else '')
    if overrides or disabled:
        header += '# Changed by monitoring_alert_overrides / monitoring_alerts_disabled: %s.\n' % ', '.join(
            sorted(set(map(str, overrides)) | drop))
    header += '# Generated: edit the source or the overrides, not this file.\n'
    body = yaml.dump(_plain(doc), Dumper=_Dumper, default_flow_style=False, sort_keys=False, width=1000,
                     allow_unicode=True)
    return header + '---\n' + body


def _plain(value):
    """Ansible's wrapped strings, dicts and lists as plain Python types (for yaml.SafeDumper)."""
    if isinstance(value, Mapping):
        return dict((str.__str__(k) if isinstance(k, str) else str(k), _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        # str.__str__, not str(): ansible-core < 2.19's AnsibleUnsafeText.__str__ returns itself,
        # which yaml.SafeDumper cannot represent (dict keys too)
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


class FilterModule(object):
    """ckpool.fleet alerting rules filter."""

    def filters(self):
        return {'alert_rules': alert_rules}
