#!/usr/bin/env bash
# Integration test of the monitoring pieces with a real Prometheus server and real node_exporters
# (Debian packages prometheus, prometheus-node-exporter), all on loopback with free ports:
#   1. promtool check rules / test rules on the shipped files (monitoring/prometheus);
#   2. simulated pools on two hosts (alpha: main + solo, beta: main), one node_exporter per host reading
#      that host's textfile directory, a Prometheus scraping both every second;
#   3. ckpool.fleet.monitoring installs the shipped rules (check mode first, then for real, then again: no
#      change; a broken override is stopped by promtool) and reloads Prometheus over HTTP; `for:` durations are
#      set to 0s through the role's documented monitoring_alert_overrides;
#   4. the ckpool.fleet.healthcheck playbook writes the textfiles; every series the rules and the dashboard use
#      exists in Prometheus with the expected labels, every dashboard query answers, no alert fires;
#   5. a pool is stopped and another rejects miners, the health check runs again: CkpoolInstanceDown fires for
#      the first, CkpoolStratumNotServing for the second, and nothing else.
# Everything it starts is stopped at the end (by pid); nothing is left behind.
set -eux

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# The collection under test: the first ANSIBLE_COLLECTIONS_PATH entry that holds it.
coll=
IFS=: read -r -a paths <<< "${ANSIBLE_COLLECTIONS_PATH:-}"
for p in "${paths[@]}" "$here/../../../../../.."; do
    if [[ -f $p/ansible_collections/ckpool/fleet/tests/simulator/ckpool_sim.py ]]; then
        coll=$(cd "$p/ansible_collections/ckpool/fleet" && pwd)
        break
    fi
done
[[ -n $coll ]] || { echo "cannot find the ckpool.fleet collection"; exit 1; }
sim=$coll/tests/simulator/ckpool_sim.py
py=${ANSIBLE_TEST_PYTHON_INTERPRETER:-$(command -v python3)}
for tool in prometheus promtool prometheus-node-exporter; do
    command -v "$tool" >/dev/null || { echo "$tool is required (apt-get install prometheus prometheus-node-exporter)"; exit 1; }
done
rules=$coll/monitoring/prometheus/ckpool_alerts.yml
dashboard=$coll/monitoring/grafana/ckpool-fleet.json
start=$SECONDS

work=$(mktemp -d /tmp/prometheus_monitoring.XXXXXX)
pids=()
cleanup() {
    local pid _
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "process $pid ignored SIGTERM, killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT

# -- 1. promtool on the shipped files ---------------------------------------------------------------------
promtool check rules "$rules"
promtool test rules "$coll/monitoring/prometheus/tests/ckpool_alerts_test.yml"

# -- 2. pools, node_exporters, Prometheus ------------------------------------------------------------------
# start_pool DIR USERS [CONFIG_JSON_EXTRA [CKPOOL_FLAGS...]]: a simulated ckpool with its own socket and log
# directory and a stratum port; pool.status is rewritten every 2 s so it never looks stale during the test.
start_pool() {
    local dir=$1 users=$2 extra=${3:-} pid
    shift 2; shift || true
    mkdir -p "$work/$dir"
    printf '{"logdir": "%s/%s/logs", "serverurl": "127.0.0.1:0"%s}' "$work" "$dir" "$extra" > "$work/$dir/ckpool.conf"
    pid=$(cd "$work/$dir" && "$py" "$sim" -c ckpool.conf "$@" -s "$work/$dir/sock" --sim-users "$users" \
        --sim-workers-per-user 2 --sim-status-interval 2 --sim-stratum-port 0 --sim-daemon)
    pids+=("$pid")
    echo "$pid" > "$work/$dir/sim.pid"
}
stratum_port() { "$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["stratum_port"])' "$work/$1/logs/.sim_state.json"; }
start_pool alpha-main 3
start_pool alpha-solo 1 '' -B
start_pool beta-main 2
for _ in $(seq 100); do [[ -s $work/beta-main/logs/.sim_state.json ]] && break; sleep 0.1; done
# beta also runs a proxy in front of its pool: its miners' hashrate is the pool's again (tier proxy), so the
# dashboard's fleet total must not count it.
start_pool beta-proxy 2 ", \"proxy\": [{\"url\": \"127.0.0.1:$(stratum_port beta-main)\", \"auth\": \"x\", \"pass\": \"x\"}]" -p
for dir in alpha-main alpha-solo beta-main beta-proxy; do
    for _ in $(seq 100); do [[ -s $work/$dir/logs/pool/pool.status ]] && break; sleep 0.1; done
    [[ -s $work/$dir/logs/pool/pool.status ]]
done

# A user name a miner chose: quotes, a backslash, braces and non-ASCII must reach Prometheus unchanged.
evil='ev"il\{x="1"} ⛏'
cp "$work/alpha-main/logs/users/user0001" "$work/alpha-main/logs/users/$evil"

read -r port_prom port_alpha port_beta < <("$py" - <<'PY'
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(('127.0.0.1', 0))
print(' '.join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
)
mkdir -p "$work/textfile/alpha" "$work/textfile/beta" "$work/rules" "$work/prometheus"
for host in alpha beta; do
    port_var=port_$host
    prometheus-node-exporter --web.listen-address="127.0.0.1:${!port_var}" --collector.disable-defaults \
        --collector.textfile --collector.textfile.directory="$work/textfile/$host" --log.level=warn \
        > "$work/node_exporter-$host.log" 2>&1 &
    pids+=("$!")
done
cat > "$work/prometheus.yml" <<CFG
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $work/rules/*.yml
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ['127.0.0.1:$port_alpha']
        labels: {instance: alpha}
      - targets: ['127.0.0.1:$port_beta']
        labels: {instance: beta}
CFG
promtool check config "$work/prometheus.yml"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus" \
    --web.listen-address="127.0.0.1:$port_prom" --web.enable-lifecycle --log.level=warn \
    > "$work/prometheus.log" 2>&1 &
pids+=("$!")
prom=http://127.0.0.1:$port_prom
check() { "$py" "$here/check_prometheus.py" --url "$prom" --coll "$coll" "$@"; }
check wait-ready --timeout 60

# -- 3. the monitoring role --------------------------------------------------------------------------------------
# Every alert fires at once in this test: for: 0s through the documented override mechanism.
"$py" - "$rules" > "$work/overrides.yml" <<'PY'
import sys, yaml
alerts = [r['alert'] for g in yaml.safe_load(open(sys.argv[1]))['groups'] for r in g['rules'] if 'alert' in r]
print(yaml.safe_dump({'monitoring_alert_overrides': dict((a, {'for': '0s'}) for a in alerts)}))
PY
role_vars=(-e "monitoring_rules_dir=$work/rules" -e "monitoring_grafana_dashboards_dir=$work/grafana/dashboards"
    -e "monitoring_grafana_provisioning_dir=$work/grafana/provisioning/dashboards"
    -e monitoring_prometheus_reload=url -e "monitoring_prometheus_reload_url=$prom/-/reload" -e "@$work/overrides.yml")

# check mode: reports the changes, writes nothing, reloads nothing
ansible-playbook "$here/monitoring.yml" "${role_vars[@]}" --check --diff | tee "$work/role-check.out"
grep -E 'changed=[1-9]' "$work/role-check.out"
[[ ! -e $work/rules/ckpool_alerts.yml && ! -e $work/grafana ]]
check rules --expect-groups 0

ansible-playbook "$here/monitoring.yml" "${role_vars[@]}" | tee "$work/role1.out"
grep -E 'changed=[1-9]' "$work/role1.out"
grep -F 'RUNNING HANDLER [ckpool.fleet.monitoring : Reload Prometheus over HTTP]' "$work/role1.out"
# the handler reloaded Prometheus: it evaluates the shipped alerts, with the overridden for:
check rules --expect-groups 1 --rules-file "$rules" --for 0s
cmp "$dashboard" "$work/grafana/dashboards/ckpool-fleet.json"
grep -F "path: $work/grafana/dashboards" "$work/grafana/provisioning/dashboards/ckpool-fleet.yml"

ansible-playbook "$here/monitoring.yml" "${role_vars[@]}" | tee "$work/role2.out"
grep -E 'changed=0 .*failed=0' "$work/role2.out"

# a broken override: promtool refuses the file, the installed rules stay as they are
cp "$work/rules/ckpool_alerts.yml" "$work/rules-before.yml"
if ansible-playbook "$here/monitoring.yml" "${role_vars[@]}" -e "@$here/broken_override.yml" > "$work/role3.out" 2>&1; then
    cat "$work/role3.out"
    echo "a rules file promtool cannot load was installed"
    exit 1
fi
cat "$work/role3.out"
grep -F 'failed to validate' "$work/role3.out"
cmp "$work/rules-before.yml" "$work/rules/ckpool_alerts.yml"

# -- 4. the health check writes the textfiles ----------------------------------------------------------------------
cat > "$work/inventory.yml" <<INV
ckpool:
  vars:
    ansible_connection: local
    ansible_python_interpreter: $py
    healthcheck_textfile_dir: "$work/textfile/{{ inventory_hostname }}"
    healthcheck_textfile_per_user: true
    healthcheck_fail_unhealthy: false
    healthcheck_report_path: ""
    healthcheck_timeout: 1.0
  hosts:
    alpha:
      healthcheck_instances:
        - {name: main, socket_dir: $work/alpha-main/sock, log_dir: $work/alpha-main/logs, stratum_port: $(stratum_port alpha-main)}
        - {name: solo, mode: solo, socket_dir: $work/alpha-solo/sock, log_dir: $work/alpha-solo/logs,
           stratum_port: $(stratum_port alpha-solo)}
    beta:
      healthcheck_instances:
        - {name: main, socket_dir: $work/beta-main/sock, log_dir: $work/beta-main/logs, stratum_port: $(stratum_port beta-main)}
        - {name: proxy, mode: proxy, socket_dir: $work/beta-proxy/sock, log_dir: $work/beta-proxy/logs,
           stratum_port: $(stratum_port beta-proxy)}
INV
ansible-playbook -i "$work/inventory.yml" ckpool.fleet.healthcheck | tee "$work/hc1.out"
grep -F '4 of 4 instance(s) healthy' "$work/hc1.out"
check wait-query 'count(ckpool_up == 1)' 4 --timeout 30
# rate() and increase() of the dashboard and the rules need two scraped samples of each counter
for counter in ckpool_shares_accepted_total ckpool_shares_rejected_total; do
    check wait-query "count(count_over_time(${counter}[1m]) >= 2)" 4 --timeout 30
done
check series --rules-file "$rules" --dashboard "$dashboard" --instances alpha/main,alpha/solo,beta/main,beta/proxy \
    --pool-tier alpha/main,alpha/solo,beta/main --user "alpha/main/$evil"
# every alert evaluated for a few rounds over a healthy fleet (for: 0s): none fires
sleep 3
check alerts --none

# -- 5. a stopped pool and a pool that serves no miner fire their alerts ------------------------------------------
# alpha/solo: the process is gone. beta/main: told to `reject` (listener), it answers every ping but no miner's
# mining.subscribe (what a frozen or rejecting ckpool does): only the stratum probe can tell.
kill "$(cat "$work/alpha-solo/sim.pid")"
ansible localhost -m ckpool.fleet.ckpool_control -a "socket_dir=$work/beta-main/sock verb=reject" \
    -e "ansible_python_interpreter=$py" | tee "$work/reject.out"
grep -F 'rejecting' "$work/reject.out"
ansible-playbook -i "$work/inventory.yml" ckpool.fleet.healthcheck | tee "$work/hc2.out"
grep -E 'alpha +solo +UNHEALTHY' "$work/hc2.out"
grep -E 'beta +main +UNHEALTHY .*stratum_subscribe' "$work/hc2.out"
check wait-alert CkpoolInstanceDown instance=alpha ckpool_instance=solo --timeout 30
check wait-alert CkpoolStratumNotServing instance=beta ckpool_instance=main --timeout 30
# exactly those: a stopped instance raises no stratum, stale or no-workers alert, a rejecting one is not "down"
sleep 2
check alerts --only CkpoolInstanceDown:alpha/solo --only CkpoolStratumNotServing:beta/main
echo "prometheus_monitoring: all checks passed in $((SECONDS - start)) s"
