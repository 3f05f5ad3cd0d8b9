# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one user-name rule of the collection, and user names derived from worker names.

Runs on the managed host (Python 3.6+, standard library only).  User names come
from miners: a name is validated (:func:`valid_username`) before it is ever
joined onto a path or put into a command.
"""

import re
import unicodedata


MAX_USERNAME_BYTES = 127
"""ckpool truncates usernames to 127 bytes (``char username[128]``)."""
_GLOB_CHARS = frozenset('*?[')


def valid_username(name):
    """Tell whether ``name`` is safe to use as a file name under ``users/``.

    Usernames come from miners.  Refused: non-strings, the empty string,
    ``.`` and ``..``, anything containing ``/`` or NUL, control characters
    (Unicode category Cc: C0, DEL, C1), lone surrogates (undecodable file
    names), and names longer than 127 bytes in UTF-8 (ckpool truncates
    usernames to 127 bytes, so a longer name can never be a ckpool user).
    Everything else, including spaces, dots and non-ASCII letters, is a
    legitimate ckpool username.
    """
    if not isinstance(name, str) or not name or name in ('.', '..'):
        return False
    try:
        encoded = name.encode('utf-8')
    except UnicodeEncodeError:
        return False
    if len(encoded) > MAX_USERNAME_BYTES:
        return False
    for char in name:
        if char == '/' or unicodedata.category(char) in ('Cc', 'Cs'):
            return False
    return True


def is_glob(pattern):
    """Tell whether ``pattern`` contains fnmatch wildcards (``*``, ``?``, ``[``)."""
    return any(char in _GLOB_CHARS for char in pattern)


def check_pattern(pattern):
    """Validate one user name or glob pattern, raising ValueError when unusable."""
    if not isinstance(pattern, str) or not pattern:
        raise ValueError('invalid user pattern %r: must be a non-empty string' % (pattern,))
    if is_glob(pattern):
        if '/' in pattern or any(unicodedata.category(char) in ('Cc', 'Cs') for char in pattern):
            raise ValueError('invalid user pattern %r: "/" and control characters never match a user' % (pattern,))
    elif not valid_username(pattern):
        raise ValueError('invalid ckpool username %r: empty, ".", "..", "/", NUL, control '
                         'characters and names over %d bytes are refused' % (pattern, MAX_USERNAME_BYTES))


def normalise_patterns(patterns):
    """Return ``patterns`` as a list of validated strings, or None for "all users"."""
    if patterns is None:
        return None
    if isinstance(patterns, str):
        patterns = [patterns]
    patterns = list(patterns)
    for pattern in patterns:
        check_pattern(pattern)
    return patterns


def worker_user(workername):
    """Return the ckpool username a worker name belongs to.

    ckpool derives the user from the worker name as ``strsep(name, "._")``:
    everything before the first ``.`` or ``_``; if that is empty (the name
    starts with a separator) the rest after it.  Truncated to 127 bytes like
    ckpool does.  ``None`` stays ``None``.
    """
    if workername is None:
        return None
    match = re.search(r'[._]', workername)
    if match is None:
        user = workername
    else:
        user = workername[:match.start()]
        if not user:
            user = workername[match.end():]
    encoded = user.encode('utf-8', 'surrogateescape')
    if len(encoded) > MAX_USERNAME_BYTES:
        user = encoded[:MAX_USERNAME_BYTES].decode('utf-8', 'ignore')
    return user
