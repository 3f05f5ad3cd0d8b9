#!/usr/bin/env bash
# CI check of the execution-environment (EE) readiness of ckpool.fleet, no container engine needed:
#  1. build the collection tarball and install it into a scratch collections path;
#  2. `ansible-builder introspect` must find the collection's Python (jmespath) and system
#     (openssh client) dependencies from meta/execution-environment.yml;
#  3. `ansible-builder create` must turn tests/ee/execution-environment.yml into a build context
#     (Containerfile + the collection tarball + requirement files).
# Run from the collection root:  bash tests/ee/check_ee.sh   (ansible-builder and ansible-galaxy in PATH)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "check_ee: FAILED: $*" >&2; exit 1; }

command -v ansible-builder >/dev/null || fail "ansible-builder is not installed (pip install ansible-builder)"
echo "check_ee: $(ansible-builder --version | head -1) in $work"

cd "$root"
ansible-galaxy collection build --force --output-path "$work/dist" . >/dev/null
tarball=$(find "$work/dist" -name 'ckpool-fleet-*.tar.gz' -print -quit)
[[ -n $tarball ]] || fail "ansible-galaxy collection build made no tarball"
ansible-galaxy collection install --offline -p "$work/collections" "$tarball" >/dev/null 2>&1

ansible-builder introspect "$work/collections" --write-pip "$work/pip.txt" --write-bindep "$work/bindep.txt" \
    > "$work/introspect.out"
grep -Eq '^jmespath( |$|#)' "$work/pip.txt" || { cat "$work/introspect.out"; fail "jmespath not in the introspected Python requirements"; }
grep -q 'openssh-client' "$work/bindep.txt" || { cat "$work/introspect.out"; fail "openssh client not in the introspected bindep requirements"; }
echo "check_ee: introspected python: $(grep -v '^#' "$work/pip.txt" | tr '\n' ' ')"
echo "check_ee: introspected system: $(grep -v '^#' "$work/bindep.txt" | tr '\n' ' ')"

mkdir -p "$work/def/collections"
cp tests/ee/execution-environment.yml tests/ee/requirements.yml "$work/def/"
cp "$tarball" "$work/def/collections/ckpool-fleet.tar.gz"
(cd "$work/def" && ansible-builder create -f execution-environment.yml --context "$work/context" --output-filename Containerfile -v 1) \
    > "$work/create.out" 2>&1 || { cat "$work/create.out"; fail "ansible-builder create failed"; }
containerfile="$work/context/Containerfile"
[[ -s $containerfile ]] || fail "no Containerfile in the build context"
grep -q 'ansible-galaxy' "$containerfile" || fail "the Containerfile does not install collections"
grep -q 'quay.io/centos/centos:stream9' "$containerfile" || fail "the Containerfile does not use the base image"
[[ -s $work/context/_build/collections/ckpool-fleet.tar.gz ]] || fail "the collection tarball is not in the build context"
[[ -s $work/context/_build/requirements.yml ]] || fail "requirements.yml is not in the build context"
echo "check_ee: build context OK: $(find "$work/context" -type f | wc -l) files, Containerfile $(wc -l < "$containerfile") lines"
echo "check_ee: passed"
