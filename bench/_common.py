# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared helpers of the benchmarks in bench/ (not part of the collection's plugins)."""

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SIMULATOR_DIR = os.path.join(REPO, 'tests', 'simulator')
COPY_IGNORE = shutil.ignore_patterns('.git', 'output', '__pycache__', '*.pyc', '.cache', '.ansible', '*.tar.gz')


def collections_path(workdir):
    """A directory to use as ANSIBLE_COLLECTIONS_PATH that holds this checkout as ckpool.fleet.

    A checkout that already lives at .../ansible_collections/ckpool/fleet is used in place;
    otherwise the tree is copied under ``workdir`` (ansible needs that layout).
    """
    parts = REPO.rstrip('/').split('/')
    if parts[-3:] == ['ansible_collections', 'ckpool', 'fleet']:
        return '/'.join(parts[:-3])
    dest = os.path.join(workdir, 'collections')
    shutil.copytree(REPO, os.path.join(dest, 'ansible_collections', 'ckpool', 'fleet'), ignore=COPY_IGNORE)
    return dest


def venv_bin(name):
    """The tool ``name`` next to the running Python (the venv's ansible-playbook), else from PATH."""
    candidate = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(candidate):
        return candidate
    found = shutil.which(name)
    if not found:
        raise SystemExit('%s not found (run the benchmark with the venv python)' % name)
    return found


def cpu_children():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_timed(cmd, env=None, cwd=None, timeout=1800, with_cpu=False):
    """Run ``cmd``; return (seconds, stdout), or (seconds, cpu_seconds, stdout) with ``with_cpu``.

    cpu_seconds is the user+system CPU time of the command and every descendant it waited for
    (ansible-playbook, its forks and the module processes), which other load on the machine
    disturbs much less than wall time.  Fails loudly on a non-zero exit.
    """
    cpu0 = cpu_children()
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=timeout, check=False)
    elapsed = time.perf_counter() - start
    cpu = cpu_children() - cpu0
    out = proc.stdout.decode(errors='replace')
    if proc.returncode != 0:
        sys.stderr.write(out[-4000:])
        raise SystemExit('command failed (%d): %s' % (proc.returncode, ' '.join(cmd)))
    if with_cpu:
        return elapsed, cpu, out
    return elapsed, out


def load_average():
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def median(values):
    return statistics.median(values)


def spread(values):
    return '%.2f-%.2f' % (min(values), max(values))


def workdir(prefix):
    return tempfile.mkdtemp(prefix=prefix)


def command_line():
    return ' '.join([os.path.relpath(sys.argv[0], REPO) if sys.argv[0].startswith(REPO) else sys.argv[0]]
                    + sys.argv[1:])
