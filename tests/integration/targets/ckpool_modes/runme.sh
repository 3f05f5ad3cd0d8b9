#!/usr/bin/env bash
# Every ckpool mode the simulator has, as one multi-tier fleet on localhost (tests/simulator/fleet.py
# --topology): a pool with passthrough, node, proxy, user proxy and redirector instances in front of it, a
# solo pool and a ckpool-lhr pool, each with a live miner. One playbook run (modes.yml) reads every
# instance with ckpool_info, totals the fleet with fleet_summary (each tier once), drops users with
# ckpool_dropuser where the mode allows it, and writes the fleet report (checked by report.yml).
set -eux

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

coll=
IFS=: read -r -a paths <<< "${ANSIBLE_COLLECTIONS_PATH:-}"
for p in "${paths[@]}" "$here/../../../../../.."; do
    if [[ -f $p/ansible_collections/ckpool/fleet/tests/simulator/fleet.py ]]; then
        coll=$(cd "$p/ansible_collections/ckpool/fleet" && pwd)
        break
    fi
done
[[ -n $coll ]] || { echo "cannot find the ckpool.fleet collection"; exit 1; }
py=${ANSIBLE_TEST_PYTHON_INTERPRETER:-$(command -v python3)}

work=$(mktemp -d /tmp/ckpool_modes.XXXXXX)
cleanup() {
    "$py" "$coll/tests/simulator/fleet.py" down --base "$work/fleet" --clean --python "$py" || true
    rm -rf "$work"
}
trap cleanup EXIT

"$py" "$coll/tests/simulator/fleet.py" up --base "$work/fleet" --topology "$here/topology.json" \
    --status-interval 1 --python "$py"

ansible-playbook -i "$work/fleet/inventory.ini" "$here/modes.yml" \
    -e fleet_report_hosts=ckpool_sims -e "fleet_report_dir=$work/report" -e fleet_report_history=0 "$@"
