# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every health check and threshold of module_utils/health.py, each on both sides of its threshold,
and the restart-aware judging of pool.status counts (timings from captures/status_history.jsonl)."""

import copy

import pytest

from ansible_collections.ckpool.fleet.plugins.module_utils import health

NOW = 1795502029.0
STARTED = 1795501968.0      # the process (from /proc) started here


def good_reading(**changes):
    reading = health.empty_reading('main', '/run/ckpool/main')
    reading.update(
        mode='pool', log_dir='/var/log/ckpool/main', stratum_host='127.0.0.1', stratum_port=3333,
        process=dict(pid=4242, running=True, started=STARTED, message=None),
        pings=dict(listener=dict(ok=True, ms=0.3), stratifier=dict(ok=True, ms=0.4)),
        # the first 60-second update of the process that started at STARTED (runtime 60)
        pool=dict(runtime=60, lastupdate=1795502028, age_seconds=1.0, users=2, workers=3,
                  hashrate={'1m': 3.3e6, '5m': 7.62e6}, accepted=90, rejected=10, bestshare=12.5),
        stratum=dict(ok=True, connected=True, ms=1.2, message='mining.subscribe answered'),
    )
    for key, value in changes.items():
        reading[key] = value
    return reading


def by_name(result):
    return dict((c['name'], c) for c in result['checks'])


def test_a_healthy_reading_has_every_default_check_passing():
    result = health.evaluate(good_reading())
    assert [c['name'] for c in result['checks']] == [
        'process', 'listener_ping', 'stratifier_ping', 'status_age', 'stratum_port', 'stratum_subscribe']
    assert all(c['verdict'] == health.PASS and c['ok'] for c in result['checks'])
    assert result['healthy'] and result['failing'] == [] and result['not_judged'] == []
    assert result['pid'] == 4242 and result['workers'] == 3 and result['hashrate_1m'] == 3.3e6
    assert result['stratum'] == '127.0.0.1:3333' and result['stratum_ms'] == 1.2
    assert result['ping_ms'] == {'listener': 0.3, 'stratifier': 0.4}
    assert result['status_age'] == 1.0 and result['runtime'] == 60


def test_process_not_running():
    stopped = dict(pid=4242, running=False, started=None, message='pid 4242 from main.pid is not running')
    result = health.evaluate(good_reading(process=stopped))
    proc = by_name(result)['process']
    assert proc['verdict'] == health.FAIL and not proc['ok'] and proc['value'] == 4242
    assert proc['reason'] == 'pid 4242 from main.pid is not running'
    assert 'process' in result['failing'] and not result['healthy']


def test_a_stale_pid_file_is_a_note_not_a_verdict():
    reading = good_reading()
    reading['process']['note'] = 'main.pid names pid 17, a stale pid file: pid 4242 serves the sockets'
    item = by_name(health.evaluate(reading))['process']
    assert item['verdict'] == health.PASS and item['value'] == 4242 and 'stale pid file' in item['reason']


def test_no_pid_file():
    result = health.evaluate(good_reading(process=dict(pid=None, running=False, started=None, message=None)))
    assert by_name(result)['process']['reason'] == 'no process serves the socket directory'


@pytest.mark.parametrize('sock', ['listener', 'stratifier'])
def test_ping_failure(sock):
    reading = good_reading()
    reading['pings'][sock] = dict(ok=False, ms=2000.1, error='deadline_exceeded', message='no answer within 2.0 s')
    result = health.evaluate(reading, dict(timeout=2.0))
    item = by_name(result)['%s_ping' % sock]
    assert item['verdict'] == health.FAIL and item['value'] == 'no answer within 2.0 s'
    assert item['threshold'] == 'pong within 2.0 s'
    assert result['failing'] == ['%s_ping' % sock]
    assert result['ping_ms'][sock] is None


def test_a_socket_the_mode_lacks_is_not_checked():
    result = health.evaluate(good_reading(pings=dict(listener=dict(ok=True, ms=0.2))))
    assert 'stratifier_ping' not in by_name(result) and result['healthy']


@pytest.mark.parametrize('age, verdict', [(179.9, health.PASS), (180.0, health.PASS), (180.1, health.FAIL)])
def test_status_age_threshold(age, verdict):
    reading = good_reading()
    reading['pool']['age_seconds'] = age
    item = by_name(health.evaluate(reading, dict(stale_after=180)))['status_age']
    assert item['verdict'] == verdict and item['threshold'] == 180


def test_status_missing_fails_age_and_every_count_threshold():
    result = health.evaluate(good_reading(pool=None, pool_error='no such file: /x/pool/pool.status'),
                             dict(min_workers=1, min_hashrate_1m=1, min_hashrate_5m=1, max_reject_ratio=0.5))
    checks = by_name(result)
    assert checks['status_age']['value'] == 'missing'
    assert checks['status_age']['reason'] == 'no such file: /x/pool/pool.status'
    for name in ('workers', 'hashrate_1m', 'hashrate_5m', 'reject_ratio'):
        assert checks[name]['verdict'] == health.FAIL, name
    assert result['workers'] is None and result['status_age'] is None


def test_status_without_lastupdate():
    reading = good_reading()
    reading['pool']['age_seconds'] = None
    assert by_name(health.evaluate(reading))['status_age']['value'] == 'no lastupdate'


def test_modes_without_pool_status_get_no_status_checks():
    """passthrough and redirector write no pool.status: no false alarm."""
    result = health.evaluate(good_reading(pool=None, has_pool_status=False),
                             dict(min_workers=5, min_hashrate_1m=1, max_reject_ratio=0.1))
    names = [c['name'] for c in result['checks']]
    assert names == ['process', 'listener_ping', 'stratifier_ping', 'stratum_port', 'stratum_subscribe']
    assert result['healthy']


def test_stratum_accepts_but_never_answers():
    probe = dict(ok=False, connected=True, kind='no_answer', ms=3001.0,
                 message='TCP connect accepted in 0.1 ms but no answer to mining.subscribe within 3.0 s')
    result = health.evaluate(good_reading(stratum=probe), dict(stratum_timeout=3.0))
    checks = by_name(result)
    assert checks['stratum_port']['verdict'] == health.PASS
    assert checks['stratum_subscribe']['verdict'] == health.FAIL
    assert checks['stratum_subscribe']['threshold'] == 'answers mining.subscribe within 3.0 s'
    assert 'no answer to mining.subscribe' in checks['stratum_subscribe']['value']
    assert result['failing'] == ['stratum_subscribe'] and result['stratum_ms'] is None


def test_stratum_refused():
    probe = dict(ok=False, connected=False, kind='refused', ms=0.2, message='connection refused by 127.0.0.1')
    result = health.evaluate(good_reading(stratum=probe))
    assert result['failing'] == ['stratum_port', 'stratum_subscribe']
    assert by_name(result)['stratum_port']['reason'] == 'connection refused by 127.0.0.1'


def test_no_stratum_port_no_stratum_checks():
    result = health.evaluate(good_reading(stratum=None, stratum_port=None))
    assert 'stratum_port' not in by_name(result) and result['stratum'] is None


@pytest.mark.parametrize('minimum, verdict', [(0, None), (2, health.PASS), (3, health.PASS), (4, health.FAIL)])
def test_min_workers(minimum, verdict):
    checks = by_name(health.evaluate(good_reading(), dict(min_workers=minimum)))
    if verdict is None:
        assert 'workers' not in checks
    else:
        assert checks['workers']['verdict'] == verdict and checks['workers']['value'] == 3
        assert checks['workers']['threshold'] == minimum


@pytest.mark.parametrize('window, minimum, verdict', [
    ('1m', 3.3e6, health.PASS), ('1m', 3.31e6, health.FAIL), ('5m', 7.62e6, health.PASS), ('5m', 8e6, health.FAIL),
    ('1m', 0, None), ('5m', 0, None),
])
def test_min_hashrate(window, minimum, verdict):
    checks = by_name(health.evaluate(good_reading(), {'min_hashrate_%s' % window: minimum}))
    name = 'hashrate_%s' % window
    if verdict is None:
        assert name not in checks
    else:
        assert checks[name]['verdict'] == verdict and checks[name]['threshold'] == minimum


def test_hashrate_missing_from_the_status_fails():
    reading = good_reading()
    reading['pool']['hashrate'] = {}
    item = by_name(health.evaluate(reading, dict(min_hashrate_5m=1)))['hashrate_5m']
    assert item['verdict'] == health.FAIL and item['reason'] == 'pool.status has no hashrate_5m'


@pytest.mark.parametrize('maximum, verdict', [(1.0, None), (0.1, health.PASS), (0.0999, health.FAIL)])
def test_max_reject_ratio(maximum, verdict):
    checks = by_name(health.evaluate(good_reading(), dict(max_reject_ratio=maximum)))
    if verdict is None:
        assert 'reject_ratio' not in checks
    else:
        assert checks['reject_ratio']['value'] == 0.1 and checks['reject_ratio']['verdict'] == verdict


def test_reject_ratio_without_shares_is_zero():
    reading = good_reading()
    reading['pool'].update(accepted=0, rejected=0)
    assert by_name(health.evaluate(reading, dict(max_reject_ratio=0.0)))['reject_ratio']['verdict'] == health.PASS


def test_reject_ratio_is_judged_right_after_a_restart():
    """accepted/rejected survive a restart (ckpool reads them back): no reason to skip them."""
    reading = good_reading()
    reading['pool'].update(runtime=1, lastupdate=int(STARTED) + 1)
    assert by_name(health.evaluate(reading, dict(max_reject_ratio=0.05)))['reject_ratio']['verdict'] == health.FAIL


# -- restart awareness --------------------------------------------------------------------------------------

def young_status():
    """The status ckpool writes 1 s after a (re)start: runtime 1, Users/Workers 0."""
    reading = good_reading()
    reading['pool'].update(runtime=1, lastupdate=int(STARTED) + 1, users=0, workers=0,
                           hashrate={'1m': 0.0, '5m': 0.0})
    return reading


def test_counts_of_a_process_younger_than_its_first_update_are_not_judged():
    result = health.evaluate(young_status(), dict(min_workers=1, min_hashrate_1m=1, min_hashrate_5m=1))
    checks = by_name(result)
    for name in ('workers', 'hashrate_1m', 'hashrate_5m'):
        assert checks[name]['verdict'] == health.NOT_JUDGED and checks[name]['ok'], name
        assert "before ckpool's first 60-second update" in checks[name]['reason']
    assert result['healthy'] and result['not_judged'] == ['workers', 'hashrate_1m', 'hashrate_5m']
    assert result['failing'] == []


def test_the_same_zero_counts_fail_once_the_process_had_its_first_update():
    reading = young_status()
    reading['pool'].update(runtime=60, lastupdate=int(STARTED) + 60)
    result = health.evaluate(reading, dict(min_workers=1))
    assert by_name(result)['workers']['verdict'] == health.FAIL and not result['healthy']


def test_a_status_written_by_the_previous_process_is_not_judged():
    """Right after a handover: pool.status is still the old process's (runtime 2160, old start)."""
    reading = good_reading()
    reading['pool'].update(runtime=2160, lastupdate=1795501965)
    item = by_name(health.evaluate(reading, dict(min_workers=1)))['workers']
    assert item['verdict'] == health.NOT_JUDGED
    assert 'written by an earlier process' in item['reason'] and 'pid 4242' in item['reason']


def test_start_time_slack():
    """/proc gives the start to ~1 s and pool.status has whole seconds: 3 s of slack, not more."""
    reading = good_reading()
    reading['pool'].update(runtime=100, lastupdate=int(STARTED) + 100 - 3)     # writer started 3 s before
    assert by_name(health.evaluate(reading, dict(min_workers=1)))['workers']['verdict'] == health.PASS
    reading['pool'].update(runtime=100, lastupdate=int(STARTED) + 100 - 4)
    assert by_name(health.evaluate(reading, dict(min_workers=1)))['workers']['verdict'] == health.NOT_JUDGED


def test_status_without_runtime_uses_lastupdate():
    reading = good_reading()
    del reading['pool']['runtime']
    reading['pool']['lastupdate'] = int(STARTED) + 10
    assert by_name(health.evaluate(reading, dict(min_workers=1)))['workers']['verdict'] == health.NOT_JUDGED
    reading['pool']['lastupdate'] = int(STARTED) + 61
    assert by_name(health.evaluate(reading, dict(min_workers=1)))['workers']['verdict'] == health.PASS


def test_status_interval_option_follows_a_faster_status_writer():
    reading = young_status()
    reading['pool'].update(runtime=5, lastupdate=int(STARTED) + 5)
    assert by_name(health.evaluate(reading, dict(min_workers=1)))['workers']['verdict'] == health.NOT_JUDGED
    assert by_name(health.evaluate(reading, dict(min_workers=1, status_interval=5)))['workers']['verdict'] \
        == health.FAIL
    reading['pool'].update(runtime=1, lastupdate=int(STARTED) + 1)
    assert by_name(health.evaluate(reading, dict(min_workers=1, status_interval=2)))['workers']['verdict'] \
        == health.NOT_JUDGED


def test_counts_of_a_dead_process_are_not_judged_but_the_process_fails():
    reading = good_reading(process=dict(pid=4242, running=False, started=None, message=None))
    result = health.evaluate(reading, dict(min_workers=1))
    assert by_name(result)['workers']['verdict'] == health.NOT_JUDGED
    assert result['failing'] == ['process']


def test_captured_history_around_a_restart():
    """captures/status_history.jsonl: before, right after and 60 s after the handover at 1795501968."""
    before = dict(runtime=2160, lastupdate=1795501965, workers=2, age_seconds=3.0)
    first = dict(runtime=1, lastupdate=1795501969, workers=0, age_seconds=1.0)
    update = dict(runtime=60, lastupdate=1795502028, workers=2, age_seconds=1.0)
    verdicts = []
    for pool in (before, first, update):
        reading = good_reading()
        reading['pool'] = dict(pool, hashrate={})
        verdicts.append(by_name(health.evaluate(reading, dict(min_workers=2)))['workers']['verdict'])
    assert verdicts == [health.NOT_JUDGED, health.NOT_JUDGED, health.PASS]


# -- gates ---------------------------------------------------------------------------------------------------

def test_new_process_gate():
    checks = by_name(health.evaluate(good_reading(), dict(previous_pid=1000)))
    assert checks['new_process']['verdict'] == health.PASS and checks['new_process']['threshold'] == 'not pid 1000'
    result = health.evaluate(good_reading(), dict(previous_pid=4242))
    assert by_name(result)['new_process']['reason'] == 'still the old pid 4242'
    assert result['failing'] == ['new_process']
    dead = good_reading(process=dict(pid=None, running=False, started=None, message=None))
    assert by_name(health.evaluate(dead, dict(previous_pid=4242)))['new_process']['reason'] == 'no running process'


def test_no_new_process_check_without_previous_pid():
    assert 'new_process' not in by_name(health.evaluate(good_reading()))


def test_read_errors_are_carried():
    result = health.evaluate(good_reading(read_errors=['permission denied']))
    assert result['read_errors'] == ['permission denied']


def test_evaluate_does_not_modify_the_reading():
    reading = good_reading()
    kept = copy.deepcopy(reading)
    health.evaluate(reading, dict(min_workers=5))
    assert reading == kept


def test_summary_names_every_failing_check_with_value_threshold_and_reason():
    bad = good_reading()
    bad['pings']['listener'] = dict(ok=False, message='no answer within 2.0 s')
    instances = dict(main=health.evaluate(bad), other=health.evaluate(good_reading()))
    text = health.summary(instances)
    assert text == 'instance main fails listener_ping (value no answer within 2.0 s, threshold pong within 2.0 s)'
    young = health.evaluate(good_reading(stratum=dict(ok=False, connected=False, message='refused')))
    assert 'stratum_port (value 127.0.0.1:3333, threshold accepts TCP within 3.0 s: refused)' in \
        health.summary(dict(main=young))
