#!/usr/bin/env bash
# The install role renders and validates a ckpool.conf for every mode and for the ckpool-lhr flavour
# (configure step only: no build, no systemd; every path below a temporary ROOT), then refuses an
# invalid topology with every problem listed and writes nothing.
set -eux

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
py=${ANSIBLE_TEST_PYTHON_INTERPRETER:-$(command -v python3)}
root=$(mktemp -d /tmp/install_configs.XXXXXX)
trap 'rm -rf "$root"' EXIT

ansible-playbook -i localhost, -c local -e "ansible_python_interpreter=$py" -e "root=$root" "$here/render.yml" \
    --tags ckpool_configure,always "$@"

set +e
ansible-playbook -i localhost, -c local -e "ansible_python_interpreter=$py" -e "root=$root/bad" "$here/invalid.yml" --tags ckpool_configure \
    > "$root/invalid.out" 2>&1
rc=$?
set -e
cat "$root/invalid.out"
[[ $rc -ne 0 ]]
grep -F "invalid ckpool configuration:" "$root/invalid.out"
grep -F "edge: ckpool refuses a passthrough whose upstream is a proxy instance (mid)" "$root/invalid.out"
grep -F "main: unknown key 'startDiff': ckpool would ignore it" "$root/invalid.out"
grep -F "main: mindiff must be a whole number >= 0" "$root/invalid.out"
grep -F "solo: solo mode needs 'btcaddress'" "$root/invalid.out"
grep -F "red: redirector mode needs 'redirecturl'" "$root/invalid.out"
# the bitcoind password never shows, and nothing was written
if grep -qF "secret-rpc-password" "$root/invalid.out"; then echo "the password leaked into the output"; exit 1; fi
if [[ -e $root/bad/etc ]]; then echo "a config directory was created for an invalid topology"; exit 1; fi
