# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""write_textfile of module_utils/prometheus_text.py: node_exporter sees the old file or the new one, never a part.

The rendering itself is tested through the filter (tests/unit/plugins/filter/test_prometheus_textfile.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat
import threading

import pytest

from ansible_collections.ckpool.fleet.plugins.module_utils import prometheus_text
from ansible_collections.ckpool.fleet.plugins.module_utils.prometheus_text import render, write_textfile


def test_writes_replaces_and_reports_changes(tmp_path):
    path = str(tmp_path / 'ckpool.prom')
    text = render({}, timestamp=1.0)
    assert write_textfile(path, text) is True
    assert open(path).read() == text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert write_textfile(path, text) is False, 'same content and mode: no change'
    assert write_textfile(path, render({}, timestamp=2.0)) is True
    assert write_textfile(path, render({}, timestamp=2.0), mode=0o640) is True, 'a mode change is a change'
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert os.listdir(str(tmp_path)) == ['ckpool.prom'], 'no temporary file left'


def test_temporary_file_is_hidden_beside_the_target_and_not_a_prom_file(tmp_path, monkeypatch):
    seen = []
    real_rename = os.rename

    def rename(src, dst):
        seen.append((src, dst, os.path.exists(src) and open(src).read()))
        return real_rename(src, dst)

    monkeypatch.setattr(prometheus_text.os, 'rename', rename)
    path = str(tmp_path / 'ckpool.prom')
    write_textfile(path, 'ckpool_up 1\n')
    ((src, dst, content),) = seen
    assert dst == path and os.path.dirname(src) == str(tmp_path), 'renamed within the same directory'
    name = os.path.basename(src)
    assert name.startswith('.') and not name.endswith('.prom'), name
    assert content == 'ckpool_up 1\n', 'complete before the rename'


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = str(tmp_path / 'ckpool.prom')
    write_textfile(path, 'old\n')

    def broken(src, dst):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(prometheus_text.os, 'rename', broken)
    with pytest.raises(OSError):
        write_textfile(path, 'new\n')
    assert open(path).read() == 'old\n'
    assert os.listdir(str(tmp_path)) == ['ckpool.prom']


def test_a_symlink_is_replaced_not_followed(tmp_path):
    target = tmp_path / 'elsewhere'
    target.write_text('do not touch\n')
    path = tmp_path / 'ckpool.prom'
    path.symlink_to(target)
    assert write_textfile(str(path), 'ckpool_up 1\n') is True
    assert not path.is_symlink() and path.read_text() == 'ckpool_up 1\n'
    assert target.read_text() == 'do not touch\n'


def test_a_reader_never_sees_a_partial_or_missing_file(tmp_path):
    """A reader polling the file (as node_exporter does at every scrape) while it is rewritten 300 times."""
    path = str(tmp_path / 'ckpool.prom')
    versions = [render({'p%d' % i: {'checks': [], 'healthy': True, 'workers': i}}, timestamp=float(i)) * 40
                for i in range(3)]
    write_textfile(path, versions[0])
    stop = threading.Event()
    bad = []
    reads = [0]

    def reader():
        while not stop.is_set():
            try:
                with open(path) as handle:
                    data = handle.read()
            except IOError as exc:
                bad.append('missing: %s' % exc)
                continue
            reads[0] += 1
            if data not in versions:
                bad.append('partial file of %d bytes' % len(data))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(300):
            write_textfile(path, versions[i % 3])
    finally:
        stop.set()
        thread.join(10)
    assert not bad, bad[:3]
    assert reads[0] > 10, 'the reader ran alongside the writes'
    assert sorted(os.listdir(str(tmp_path))) == ['ckpool.prom']
