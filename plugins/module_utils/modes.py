# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What each ckpool run mode has and lacks.

ckpool runs as a pool (default), a solo pool (``-B``), a proxy (``-p``), a user
proxy (``-u``), a passthrough (``-P``), a node (``-N``) or a redirector
(``-R``).  Code that reads an instance must not expect what its mode never
provides (a passthrough writes no ``pool/pool.status``), and code that totals
a fleet must not count the same miners twice (miners behind a proxy or a node
are counted by that instance *and* by the pool upstream).  The facts and their
sources are in ``docs/modes.md``; ``observed`` facts come from a real ckpool,
the rest from ckpool's source (``ckpool.c`` ``main()``, ``stratifier.c``,
``connector.c``, ``generator.c``).

Standard library only, Python 3.6+.
"""

ALL_SOCKETS = ('listener', 'stratifier', 'connector', 'generator')

MODES = ('pool', 'solo', 'proxy', 'userproxy', 'passthrough', 'node', 'redirector')
"""Mode names, as reported by the collection (``solo`` is ckpool's ``btcsolo``)."""

TIERS = ('pool', 'proxy', 'node', 'passthrough', 'redirector')
"""Fleet tiers.  Only the ``pool`` tier mines against bitcoind; every other tier
forwards its miners' work to a pool upstream, which counts it again.  The
``pool`` tier total is therefore the fleet total."""

UPSTREAM_TIERS = ('pool',)

# One record per mode.  Keys:
#   flag           ckpool's command-line flag (None: the default pool mode)
#   long_flag      its long form
#   default_name   instance name when -n is absent (also the config basename,
#                  the log LOGDIR/NAME.log and the socket dir /tmp/NAME)
#   tier           fleet tier (see TIERS)
#   upstream       True when miners' shares go to another pool (counted there too)
#   pool_status    writes LOGDIR/pool/pool.status (its statsupdate thread runs)
#   users          writes LOGDIR/users/<user>
#   authorises     authorises miners itself and logs "Authorised client ..." lines
#   auth_line      the format of those lines: "address" (Authorised client ID ADDRESS
#                  worker W as user U), "proxy" (Authorised client ID to proxy P:S,
#                  worker W as user U; no address), None (no such lines), "unknown"
#   stats_extra    extra keys in the stratifier stats JSON
#   user_is_address  miners must authorise with a bitcoin address as user name
#   generator_ping "always", or "upstream" (answers only once an upstream pool is
#                  connected: the generator handles no socket message before that)
#   default_port   stratum port when the config has no serverurl
#   needs_config   config keys ckpool refuses to start without
#   log_status     name of the periodic status log line(s): Pool:{...}, Proxy:{...},
#                  Passthrough:{...}
#   observed       True when a real instance of this mode was observed
_FACTS = {
    'pool': dict(
        flag=None, long_flag=None, default_name='ckpool', tier='pool', upstream=False,
        pool_status=True, users=True, authorises=True, auth_line='address', stats_extra=(),
        user_is_address=False, generator_ping='always', default_port=3333,
        needs_config=('btcaddress',), log_status=('Pool',), observed=True),
    'solo': dict(
        flag='-B', long_flag='--btcsolo', default_name='ckpool', tier='pool', upstream=False,
        pool_status=True, users=True, authorises=True, auth_line='address', stats_extra=('userwbs',),
        user_is_address=True, generator_ping='always', default_port=3333,
        needs_config=('btcaddress',), log_status=('Pool',), observed=True),
    'proxy': dict(
        flag='-p', long_flag='--proxy', default_name='ckproxy', tier='proxy', upstream=True,
        pool_status=True, users=True, authorises=True, auth_line='proxy', stats_extra=(),
        user_is_address=False, generator_ping='upstream', default_port=3334,
        needs_config=('proxy',), log_status=('Pool', 'Proxy'), observed=True),
    'userproxy': dict(
        flag='-u', long_flag='--userproxy', default_name='ckproxy', tier='proxy', upstream=True,
        pool_status=True, users=True, authorises=True, auth_line='proxy', stats_extra=(),
        user_is_address=False, generator_ping='upstream', default_port=3334,
        needs_config=('proxy',), log_status=('Pool', 'Proxy'), observed=False),
    'passthrough': dict(
        flag='-P', long_flag='--passthrough', default_name='ckpassthrough', tier='passthrough',
        upstream=True, pool_status=False, users=False, authorises=False, auth_line=None, stats_extra=(),
        user_is_address=False, generator_ping='upstream', default_port=3334,
        needs_config=('proxy',), log_status=('Passthrough',), observed=False),
    'node': dict(
        flag='-N', long_flag='--node', default_name='cknode', tier='node', upstream=True,
        pool_status=True, users=True, authorises=False, auth_line='unknown', stats_extra=(),
        user_is_address=False, generator_ping='upstream', default_port=3334,
        needs_config=('proxy',), log_status=('Pool',), observed=False),
    'redirector': dict(
        flag='-R', long_flag='--redirector', default_name='ckredirector', tier='redirector',
        upstream=True, pool_status=False, users=False, authorises=False, auth_line=None, stats_extra=(),
        user_is_address=False, generator_ping='upstream', default_port=3334,
        needs_config=('proxy', 'redirecturl'), log_status=('Passthrough',), observed=False),
}

_FLAG_MODES = {'B': 'solo', 'p': 'proxy', 'u': 'userproxy', 'P': 'passthrough', 'N': 'node', 'R': 'redirector'}
_LONG_MODE_FLAGS = {'btcsolo': 'B', 'proxy': 'p', 'userproxy': 'u', 'passthrough': 'P', 'node': 'N',
                    'redirector': 'R', 'trusted': 't'}


class ModeError(ValueError):
    """Mode flags ckpool refuses together (ckpool exits 1 with this message)."""


def check_mode(mode):
    """Return ``mode`` when it is one of :data:`MODES`, else raise ValueError."""
    if mode not in _FACTS:
        raise ValueError('unknown ckpool mode %r (one of %s)' % (mode, ', '.join(MODES)))
    return mode


def mode_facts(mode):
    """A copy of the facts record of ``mode`` (see the key list in this module)."""
    facts = dict(_FACTS[check_mode(mode)])
    facts['mode'] = mode
    return facts


def default_name(mode):
    """ckpool's instance name when ``-n`` is absent (``ckpool.c`` ``main()``)."""
    return _FACTS[check_mode(mode)]['default_name']


def tier(mode):
    """The fleet tier of ``mode``."""
    return _FACTS[check_mode(mode)]['tier']


def check_tier(value):
    if value not in TIERS:
        raise ValueError('unknown tier %r (one of %s)' % (value, ', '.join(TIERS)))
    return value


def expects_pool_status(mode):
    """True when an instance of this mode writes ``pool/pool.status`` (and ``users/``)."""
    return _FACTS[check_mode(mode)]['pool_status']


def logs_authorisations(mode):
    """True when this mode authorises miners itself and logs ``Authorised client`` lines."""
    return _FACTS[check_mode(mode)]['authorises']


def mode_from_letters(letters, argv0=None):
    """ckpool's mode from its mode flags, in command-line order, with main()'s checks.

    ``letters``: short option letters as getopt returns them (long options
    already mapped: ``--btcsolo`` -> ``B``, ``--trusted`` -> ``t`` ...); other
    letters are ignored.  ``argv0``: the program name; ckpool runs in proxy mode
    when its basename is ``ckproxy``.  Raises :class:`ModeError` with ckpool's
    own message for combinations ckpool refuses.
    """
    f = dict.fromkeys(('btcsolo', 'proxy', 'passthrough', 'node', 'redirector', 'userproxy', 'remote'), False)
    if argv0 and argv0.replace('\\', '/').rsplit('/', 1)[-1] == 'ckproxy':
        f['proxy'] = True
    for letter in letters:
        if letter == 'B':
            if f['proxy']:
                raise ModeError('Cannot set both proxy and btcsolo mode')
            f['btcsolo'] = True
        elif letter == 'N':
            if f['proxy'] or f['redirector'] or f['userproxy'] or f['passthrough']:
                raise ModeError('Cannot set another proxy type or redirector and node mode')
            f['proxy'] = f['passthrough'] = f['node'] = True
        elif letter == 'P':
            if f['proxy'] or f['redirector'] or f['userproxy'] or f['node']:
                raise ModeError('Cannot set another proxy type or redirector and passthrough mode')
            f['proxy'] = f['passthrough'] = True
        elif letter == 'p':
            if f['passthrough'] or f['redirector'] or f['userproxy'] or f['node']:
                raise ModeError('Cannot set another proxy type or redirector and proxy mode')
            f['proxy'] = True
        elif letter == 'R':
            if f['proxy'] or f['passthrough'] or f['userproxy'] or f['node']:
                raise ModeError('Cannot set a proxy type or passthrough and redirector modes')
            f['proxy'] = f['passthrough'] = f['redirector'] = True
        elif letter == 't':
            if f['proxy']:
                raise ModeError('Cannot set a proxy type and trusted remote mode')
            f['remote'] = True
        elif letter == 'u':
            if f['proxy'] or f['redirector'] or f['passthrough'] or f['node']:
                raise ModeError('Cannot set both userproxy and another proxy type or redirector')
            f['userproxy'] = f['proxy'] = True
    for mode in ('node', 'redirector', 'passthrough', 'userproxy', 'proxy'):
        if f[mode]:
            return mode
    return 'solo' if f['btcsolo'] else 'pool'


def long_flag_letter(name):
    """The short letter of a mode-related long option name (``btcsolo`` -> ``B``), or None."""
    return _LONG_MODE_FLAGS.get(name)
