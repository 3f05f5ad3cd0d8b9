#!/usr/bin/env bash
# Prepare a release of ckpool.fleet in this checkout:  bash .ci/release.sh VERSION [YYYY-MM-DD]
#
# 1. checks that VERSION is newer than galaxy.yml's released versions and that the unreleased
#    fragments include a release summary (changelogs/fragments/VERSION.yml, `release_summary:`),
# 2. sets `version:` in galaxy.yml,
# 3. runs `antsibull-changelog release` (pinned in .ci/requirements.txt): every fragment in
#    changelogs/fragments/ goes into changelogs/changelog.yaml under VERSION (new modules,
#    plugins and roles are found by their `version_added: VERSION`), the fragments are removed
#    and CHANGELOG.rst is regenerated,
# 4. lints the result and builds the tarball as a check (left in a temp dir, path printed).
# It commits nothing: review `git diff`, then `git commit -am "Release VERSION"` and tag it.
#
# Environment: CKPOOL_CI_VENV (default $HOME/.cache/ckpool-fleet/venv: the tool chain .ci/run
# installs; run `CKPOOL_CI_STAGES=changelog bash .ci/run` once if it is missing).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${CKPOOL_CI_VENV:-$HOME/.cache/ckpool-fleet/venv}
die() { echo "release: $*" >&2; exit 1; }

(($# >= 1 && $# <= 2)) || die "usage: bash .ci/release.sh VERSION [YYYY-MM-DD]"
version=$1
date=${2:-}
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "VERSION must be X.Y.Z (semantic versioning), not '$version'"
[[ -z $date || $date =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] || die "DATE must be YYYY-MM-DD, not '$date'"
[[ -x $VENV/bin/antsibull-changelog ]] || die "no antsibull-changelog in $VENV (run: CKPOOL_CI_STAGES=changelog bash .ci/run)"
export PATH="$VENV/bin:$PATH"   # antsibull-changelog runs ansible-doc to find new plugins and roles

cd "$ROOT"
python - "$version" <<'EOF'
import glob, sys, yaml
from ansible.module_utils.compat.version import LooseVersion
version = sys.argv[1]
releases = list((yaml.safe_load(open('changelogs/changelog.yaml')).get('releases') or {}))
newer = [r for r in releases if LooseVersion(r) >= LooseVersion(version)]
if newer:
    sys.exit('release: %s is not newer than the released %s' % (version, ', '.join(newer)))
fragments = [f for f in sorted(glob.glob('changelogs/fragments/*.y*ml'))]
if not fragments:
    sys.exit('release: no changelog fragments in changelogs/fragments/: nothing to release')
if not any('release_summary' in (yaml.safe_load(open(f)) or {}) for f in fragments):
    sys.exit('release: no fragment has a release_summary: write changelogs/fragments/%s.yml with\n'
             '  release_summary: <one paragraph: what this release brings>' % version)
print('release: %d fragment(s) for %s' % (len(fragments), version))
EOF

sed -i -E "s/^version: .*/version: $version/" galaxy.yml
grep -qx "version: $version" galaxy.yml || die "could not set version in galaxy.yml"

# antsibull-changelog caches the plugin list (changelogs/.plugin-cache.yaml, git-ignored); a cache from an
# earlier run would leave plugins added since then out of the release notes
rm -f changelogs/.plugin-cache.yaml
args=(release --version "$version")
[[ -n $date ]] && args+=(--date "$date")
antsibull-changelog "${args[@]}"
antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
antsibull-changelog lint

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
ansible-galaxy collection build --output-path "$out" . >/dev/null
echo "release: ckpool-fleet-$version.tar.gz builds ($(du -k "$out/ckpool-fleet-$version.tar.gz" | cut -f1) KiB)"
echo "release: $version prepared; review with git diff / git status, then:"
echo "  git add -A && git commit -m 'Release $version' && git tag $version"
