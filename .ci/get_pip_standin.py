"""Offline stand-in for ansible-test's pip bootstrap script (get-pip.py).

ansible-test downloads get-pip.py from a host that is not reachable here and caches it as
~/.ansible/test/cache/get_pip_<ver>.py; .ci/run installs this file under that name instead.
ansible-test runs it as `python get_pip_X.py [pip options] pip==X [...] --no-setuptools
--no-wheel` inside a fresh virtual environment: install pip with ensurepip, then install the
requested packages from the configured package index (get-pip's own flags are dropped).
"""
import subprocess
import sys


def main():
    subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade'])
    args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
    subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + args)


if __name__ == '__main__':
    main()
