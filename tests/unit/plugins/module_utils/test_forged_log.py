# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Miner-forged log lines: nothing a miner writes may decide which connection is dropped or
which block is reported.

The logs here are written the way ckpool writes them: each record is
``[stamp] message\\n`` and a worker name is embedded verbatim, newlines
included (PROTOCOL.md, "Observed in a second round"; captures/log_injection.txt
and captures/lhr/log_events.log, whose lines are used verbatim).
"""

import os
import time

import pytest

from ansible_collections.ckpool.fleet.plugins.module_utils import ckpool_log

CAPTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'captures')
FILLER = 'Pool:{"runtime": 300, "lastupdate": 1795500045, "Users": 3, "Workers": 6, "Idle": 0, "Disconnected": 1}'


def stamp(when):
    return '[%s.%03d]' % (time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(when)), int(when * 1000) % 1000)


class Log(object):
    """Build a ckpool log: ``add(message)`` writes ``[stamp] message\\n`` exactly like ckpool's logmsg()."""

    def __init__(self, start=None):
        self.now = start if start is not None else time.time() - 3600
        self.parts = []

    def add(self, message, advance=0.05):
        self.now += advance
        self.parts.append('%s %s\n' % (stamp(self.now), message))
        return self

    def authorise(self, client_id, worker, address='10.0.0.5'):
        user = worker.split('.')[0].split('_')[0]
        return self.add('Authorised client %d %s worker %s as user %s' % (client_id, address, worker, user))

    def dropped(self, client_id, worker, address='10.0.0.5'):
        user = worker.split('.')[0].split('_')[0]
        return self.add('Dropped client %d %s user %s worker %s ' % (client_id, address, user, worker))

    def miner_authorises(self, client_id, worker_text, address='6.6.6.6'):
        """A miner's authorisation, with its worker text verbatim (ckpool derives the user before '.'/'_')."""
        cut = min([i for i in (worker_text.find('.'), worker_text.find('_')) if i >= 0] or [len(worker_text)])
        user = worker_text[:cut] or worker_text[cut + 1:]
        return self.add('Authorised client %d %s worker %s as user %s' % (client_id, address, worker_text, user))

    def filler(self, nbytes=2600):
        """Genuine lines of another kind, at least ``nbytes`` of them (to leave the forgery span)."""
        written = 0
        while written < nbytes:
            self.add(FILLER, advance=0.5)
            written += len(self.parts[-1])
        return self

    def write(self, path):
        with open(str(path), 'w') as handle:
            handle.write(''.join(self.parts))
        return str(path)


def forged(when, message):
    """A forged line as a miner would put it in a worker name: a perfectly valid stamp."""
    return '%s %s' % (stamp(when), message)


def ids(sessions):
    return [s['id'] for s in sessions['sessions']]


def refused(sessions):
    return dict((r['id'], r['reason']) for r in sessions['refused'])


# ------------------------------------------------------------- the attacks of issue 8

def test_forged_claim_of_bobs_id_does_not_drop_bob(tmp_path):
    log = Log()
    since = log.now
    log.authorise(1, 'bob.rig1').filler()
    # mallory's worker name carries a whole "Authorised client <bob's id> ... as user alice" line
    log.miner_authorises(14, 'mallory.w\n%s\nz' % forged(log.now + 0.01, 'Authorised client 1 127.0.0.1 worker alice.x as user alice'))
    log.filler().authorise(20, 'alice.rig1')
    path = log.write(tmp_path / 'ckpool.log')
    alice = ckpool_log.client_sessions(path, 'alice', since=since)
    assert ids(alice) == [20]                                    # alice's genuine connection is still dropped
    assert refused(alice) == {1: 'claimed_by_several_users'}     # bob's id is not
    assert alice['refused'][0]['claims'][0]['user'] == 'bob'
    assert ids(ckpool_log.client_sessions(path, 'bob', since=since)) == []   # bob's id is in doubt for him too
    assert alice['signs_of_tampering'] >= 1


def test_forged_claim_before_the_victim_connects(tmp_path):
    # The forger predicts the next client id: the collision shows when the victim authorises later.
    log = Log()
    since = log.now
    log.miner_authorises(14, 'mallory.w\n%s\nz' % forged(log.now + 10, 'Authorised client 15 10.9.9.9 worker alice.x as user alice'))
    log.filler().authorise(15, 'bob.rig1').filler().authorise(16, 'alice.rig1')
    path = log.write(tmp_path / 'ckpool.log')
    alice = ckpool_log.client_sessions(path, 'alice', since=since)
    assert ids(alice) == [16] and refused(alice) == {15: 'claimed_by_several_users'}


def test_broken_record_taints_a_claim_on_an_unclaimed_id(tmp_path):
    # No collision (client 99 never authorised), but the record around the forged line is broken.
    log = Log()
    since = log.now
    log.authorise(20, 'alice.rig1').filler()
    log.miner_authorises(14, 'mallory.w\n%s\nz' % forged(log.now + 0.01, 'Authorised client 99 127.0.0.1 worker alice.y as user alice'))
    path = log.write(tmp_path / 'ckpool.log')
    alice = ckpool_log.client_sessions(path, 'alice', since=since)
    assert ids(alice) == [20]
    assert refused(alice) == {99: 'broken_record'}
    assert 'without a valid time stamp' in alice['refused'][0]['detail']


def test_cut_authorised_record_is_a_sign_even_when_every_line_has_a_stamp(tmp_path):
    # The worker name starts with a newline: ckpool's own line is cut right after "worker ".
    log = Log()
    since = log.now
    log.authorise(20, 'alice.rig1').filler()
    log.miner_authorises(14, '\n%s\n%s' % (forged(log.now + 0.01, 'Authorised client 98 1.2.3.4 worker alice.q as user alice'),
                                           forged(log.now + 0.02, 'x')))
    path = log.write(tmp_path / 'ckpool.log')
    alice = ckpool_log.client_sessions(path, 'alice', since=since)
    assert ids(alice) == [20] and refused(alice) == {98: 'broken_record'}


def test_forged_drop_does_not_hide_alices_connection(tmp_path):
    log = Log()
    since = log.now
    log.authorise(20, 'alice.rig1', address='10.0.0.7').filler()
    log.miner_authorises(14, 'mallory.w\n%s\nz' % forged(log.now + 0.01, 'Dropped client 20 10.0.0.7 user alice worker alice.rig1 '))
    log.filler()
    path = log.write(tmp_path / 'ckpool.log')
    alice = ckpool_log.client_sessions(path, 'alice', since=since)
    assert ids(alice) == [20] and alice['gone'] == []


def test_forged_dropall_does_not_hide_anyone(tmp_path):
    log = Log()
    since = log.now
    log.authorise(20, 'alice.rig1').filler()
    log.miner_authorises(14, 'mallory.w\n%s\nz' % forged(log.now + 0.01, 'Dropped 7 instances for dropall request'))
    path = log.write(tmp_path / 'ckpool.log')
    assert ids(ckpool_log.client_sessions(path, 'alice', since=since)) == [20]


def test_forged_old_stamp_does_not_end_the_window(tmp_path):
    # A line dated before the process start must not stop the read (the old reader stopped there
    # and missed every earlier connection of the process).
    log = Log()
    since = log.now
    log.authorise(20, 'alice.rig1').filler()
    log.miner_authorises(14, 'mallory.w\n%s\nz' % forged(since - 7200, 'Pool:{"runtime": 1}'))
    log.filler()
    path = log.write(tmp_path / 'ckpool.log')
    alice = ckpool_log.client_sessions(path, 'alice', since=since)
    assert ids(alice) == [20] and alice['complete'] is True


def test_stamp_out_of_order_without_a_continuation_line(tmp_path):
    # Crafted so that every line has a stamp and no record is cut: the forged stamp is off by minutes.
    log = Log()
    since = log.now
    log.add('ckpool stratifier ready').filler()
    log.now += 3600   # an hour later
    log.authorise(20, 'alice.rig1').filler()
    log.miner_authorises(14, 'mallory.w as user mallory\n%s\n%s' % (
        forged(log.now - 1800, 'Authorised client 97 1.2.3.4 worker alice.q as user alice'),
        forged(log.now + 0.02, 'Authorised client 96 1.2.3.4 worker mallory.v')))
    path = log.write(tmp_path / 'ckpool.log')
    alice = ckpool_log.client_sessions(path, 'alice', since=since)
    assert ids(alice) == [20] and refused(alice) == {97: 'broken_record'}


def test_stamp_in_the_future_is_a_sign(tmp_path):
    log = Log(start=time.time() - 60)
    since = log.now
    log.authorise(20, 'alice.rig1').filler()
    log.add('Authorised client 95 1.2.3.4 worker alice.f as user alice', advance=0)
    log.parts[-1] = '%s %s\n' % (stamp(time.time() + 86400), 'Authorised client 95 1.2.3.4 worker alice.f as user alice')
    path = log.write(tmp_path / 'ckpool.log')
    alice = ckpool_log.client_sessions(path, 'alice', since=since)
    assert 95 in refused(alice) and ids(alice) == [20]


def test_inconsistent_user_is_refused(tmp_path):
    # ckpool derives the user from the worker name; a record that disagrees was not written by it.
    log = Log()
    since = log.now
    log.add('Authorised client 30 10.0.0.5 worker bob.rig1 as user alice').filler().authorise(31, 'alice.rig2')
    path = log.write(tmp_path / 'ckpool.log')
    alice = ckpool_log.client_sessions(path, 'alice', since=since)
    assert ids(alice) == [31] and refused(alice) == {30: 'inconsistent_record'}


def test_drop_marker_must_name_the_connection_exactly(tmp_path):
    log = Log()
    since = log.now
    log.authorise(20, 'alice.rig1', address='10.0.0.7').filler()
    log.add('Dropped client 20 10.0.0.8 user alice worker alice.rig1 ').filler()   # another address
    log.authorise(21, 'alice.rig2', address='10.0.0.7').filler().dropped(21, 'alice.rig2', address='10.0.0.7')
    path = log.write(tmp_path / 'ckpool.log')
    alice = ckpool_log.client_sessions(path, 'alice', since=since)
    assert ids(alice) == [20] and [g['id'] for g in alice['gone']] == [21]


def test_rotated_log_that_misses_the_process_start_is_incomplete(tmp_path):
    log = Log()
    since = log.now - 600   # the process started ten minutes before the first record of this file
    log.authorise(20, 'alice.rig1')
    path = log.write(tmp_path / 'ckpool.log')
    alice = ckpool_log.client_sessions(path, 'alice', since=since)
    assert ids(alice) == [] and refused(alice) == {20: 'log_incomplete'}


def test_slow_start_is_not_mistaken_for_a_rotated_log(tmp_path):
    # A loaded host: the process logs its first record seconds after it started.
    log = Log()
    since = log.now - 5
    log.authorise(20, 'alice.rig1')
    path = log.write(tmp_path / 'ckpool.log')
    alice = ckpool_log.client_sessions(path, 'alice', since=since)
    assert ids(alice) == [20] and alice['complete'] is True


def test_genuine_log_has_no_signs_of_tampering(tmp_path):
    # The unmodified captures of a real ckpool: nothing is tainted.
    fixtures = os.path.join(os.path.dirname(__file__), 'fixtures', 'ckpool_files')
    for name in ('02_authorisation_and_drops.log', '03_shares_and_blocks.log', '06_pool_status_log_lines.log',
                 '09_startup_final_instance.log'):
        reader = ckpool_log.ReverseLineReader(os.path.join(fixtures, name))
        scan = ckpool_log.scan_log(reader, now=time.mktime((2026, 11, 25, 0, 0, 0, 0, 0, -1)))
        assert scan.signs == [], name


def genuine(log, tmp_path, since):
    """Write ``log``, check it shows no sign of tampering; returns user -> ids of the user's sessions."""
    path = log.write(tmp_path / 'ckpool.log')
    assert ckpool_log.scan_log(ckpool_log.ReverseLineReader(path), since=since).signs == []
    return lambda user: ids(ckpool_log.client_sessions(path, user, since=since))


def test_subclient_identities_of_passthrough_node_and_remote_miners(tmp_path):
    # stratifier.c __stratum_add_instance: a miner behind a passthrough/node/trusted remote is logged with
    # the identity "KIND:P subclient:S"; its connector id (what dropclient takes) is (P << 32) | S.
    log = Log()
    since = log.now
    log.authorise(1, 'alice.rig1')
    log.add('Authorised client passthrough:7 subclient:3 10.0.0.9 worker dave.rig1 as user dave')
    log.add('Authorised client node:8 subclient:0 10.0.0.10 worker frank.rig1 as user frank')
    log.add('Authorised client remote:9 subclient:4 10.0.0.11 worker gina.rig1 as user gina')
    log.add('Authorised client 12 to proxy 0:1, worker carol.rig1 as user carol')
    sessions_of = genuine(log, tmp_path, since)
    assert sessions_of('alice') == [1]
    assert sessions_of('dave') == [(7 << 32) | 3]
    assert sessions_of('frank') == [8 << 32]
    assert sessions_of('gina') == [(9 << 32) | 4]
    assert sessions_of('carol') == [12]


def test_every_drop_record_shape_of_ckpool(tmp_path):
    # stratifier.c __drop_client: "[throttled ]user U", "no user", " lazily", subclient identities.
    log = Log()
    since = log.now
    log.authorise(1, 'alice.rig1').authorise(2, 'alice.rig2').authorise(3, 'alice.rig3')
    log.add('Authorised client passthrough:7 subclient:3 10.0.0.9 worker alice.rig4 as user alice')
    log.add('Dropped client 1 10.0.0.5 throttled user alice worker alice.rig1 ')
    log.add('Dropped client 2 10.0.0.5 user alice worker alice.rig2 lazily')
    log.add('Dropped client passthrough:7 subclient:3 10.0.0.9 user alice worker alice.rig4 ')
    log.add('Dropped client 5 10.0.0.6 no user worker x.y ')
    assert genuine(log, tmp_path, since)('alice') == [3]


def test_client_id_of_identities():
    assert ckpool_log.client_id('17') == 17
    assert ckpool_log.client_id('passthrough:1 subclient:2') == (1 << 32) | 2
    assert ckpool_log.client_id('node:0 subclient:0') == 0


# -------------------------------------------------------------------------- the captures

def capture_lines(*parts):
    with open(os.path.join(CAPTURES, *parts)) as handle:
        return handle.read().splitlines()


def test_capture_log_injection_on_a_real_ckpool(tmp_path):
    # captures/log_injection.txt: the lines a real ckpool wrote for mallory's worker name.
    lines = [line for line in capture_lines('log_injection.txt') if not line.startswith('#')]
    first = ckpool_log.parse_log_time(lines[0])
    log = Log(start=first - 60)
    since = log.now
    log.authorise(1, 'bob.rig1', address='127.0.0.1').filler()
    log.parts.append('\n'.join(lines) + '\n')
    path = log.write(tmp_path / 'ckpool.log')
    alice = ckpool_log.client_sessions(path, 'alice', since=since)
    # the forged line is dated before the process started: not a claim at all, only a sign
    assert ids(alice) == [] and alice['refused'] == [] and alice['signs_of_tampering'] >= 2
    assert ids(ckpool_log.client_sessions(path, 'bob', since=since)) == [1]
    # mallory's own record is cut by the line break: no claim for mallory either
    mallory = ckpool_log.client_sessions(path, 'mallory', since=since)
    assert mallory['sessions'] == [] and mallory['refused'] == []


def test_capture_log_injection_with_a_current_stamp(tmp_path):
    # The same worker name, stamped inside the process's lifetime: bob's id collides.
    lines = [line for line in capture_lines('log_injection.txt') if not line.startswith('#')]
    first = ckpool_log.parse_log_time(lines[0])
    lines = [line.replace('[2026-12-01 21:00:00.000]', stamp(first)) for line in lines]
    log = Log(start=first - 60)
    since = log.now
    log.authorise(1, 'bob.rig1', address='127.0.0.1').filler()
    log.parts.append('\n'.join(lines) + '\n')
    path = log.write(tmp_path / 'ckpool.log')
    alice = ckpool_log.client_sessions(path, 'alice', since=since)
    assert ids(alice) == [] and refused(alice) == {1: 'claimed_by_several_users'}
    assert ids(ckpool_log.client_sessions(path, 'bob', since=since)) == []


def test_capture_lhr_fake_lines_and_block(tmp_path):
    # captures/lhr/log_events.log: unstamped "FAKE Authorised client 99 ..." continuation lines
    # from a worker name, and a genuine block 136 close to them.
    path = tmp_path / 'ckpool.log'
    path.write_text('\n'.join(capture_lines('lhr', 'log_events.log')) + '\n')
    since = ckpool_log.parse_log_time(capture_lines('lhr', 'log_events.log')[0]) - 1
    now = since + 3600
    evil = ckpool_log.client_sessions(str(path), 'evil', since=since, now=now)
    assert evil['sessions'] == [] and evil['refused'] == []   # the FAKE lines have no stamp: never parsed
    nltest = ckpool_log.client_sessions(str(path), 'nltest', since=since, now=now)
    assert nltest['sessions'] == [] and nltest['refused'] == []   # its own record is cut: no claim
    assert nltest['signs_of_tampering'] >= 3
    dave = ckpool_log.client_sessions(str(path), 'dave', since=since, now=now)
    # a tiny log: dave's records lie within 2 KiB of the broken ones, so the module stays away from them
    assert ids(dave) == [] and refused(dave) == {1: 'broken_record', 4: 'broken_record'}
    blocks = ckpool_log.solved_blocks(str(path), now=now)
    # the genuine block lies 600 bytes after a broken record: it is not lost, but set apart
    assert [b['height'] for b in blocks['blocks'] + blocks['suspicious']] == [136]


# ------------------------------------------------------------------------------ blocks

def test_forged_block_is_suspicious_not_reported(tmp_path):
    log = Log()
    log.add('BLOCK ACCEPTED!').add('Solved and confirmed block 103 by testuser.rig1').filler()
    worker = '\n%s\n%s' % (forged(log.now + 0.01, 'BLOCK ACCEPTED!'),
                           forged(log.now + 0.02, 'Solved and confirmed block 999999 by mallory.x'))
    log.miner_authorises(14, worker)
    log.filler().add('BLOCK ACCEPTED!').add('Solved and confirmed block 104 by testuser.rig1')
    path = log.write(tmp_path / 'ckpool.log')
    result = ckpool_log.solved_blocks(path)
    assert [b['height'] for b in result['blocks']] == [104, 103]
    assert [b['height'] for b in result['suspicious']] == [999999]
    assert 'without a valid time stamp' in result['suspicious'][0]['reason']


def test_block_records_inside_a_crafted_record_with_stamps_everywhere(tmp_path):
    # The forger avoided a stamp-less line, but the stamps do not fit between ckpool's own.
    log = Log()
    log.filler()
    worker = 'mallory.w as user mallory\n%s\n%s\n%s' % (
        forged(log.now - 600, 'BLOCK ACCEPTED!'), forged(log.now - 600, 'Solved and confirmed block 500 by m.x'),
        forged(log.now + 0.01, 'Block solved after 1 shares at 100% diff'))
    log.miner_authorises(14, worker).filler()
    path = log.write(tmp_path / 'ckpool.log')
    result = ckpool_log.solved_blocks(path)
    assert result['blocks'] == [] and [b['height'] for b in result['suspicious']] == [500]


def test_reader_does_not_hang_on_a_fifo(tmp_path):
    path = str(tmp_path / 'ckpool.log')
    os.mkfifo(path)
    started = time.monotonic()
    with pytest.raises(ckpool_log.CkpoolFileError) as info:
        ckpool_log.client_sessions(path, 'alice')
    assert 'FIFO' in info.value.reason and time.monotonic() - started < 1
    with pytest.raises(ckpool_log.CkpoolFileError):
        ckpool_log.solved_blocks(path)
