# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one user-name rule of the collection, and user names derived from worker names.

Runs on the managed host (Python 3.6+, standard library only).  User names come
from miners.  Two checks exist, for two different jobs:

* :func:`username_problem` is **the rule for user names given to a module**
  (``ckpool_dropuser`` ``user``, ``ckpool_info`` ``users``), described to
  users by :data:`USERNAME_RULE` (the modules' docs repeat it word for word);
* :func:`valid_username` only tells whether a name found in ``users/`` (which
  ckpool wrote for some miner) is safe to open as a file there.
"""

import re
import unicodedata


MAX_USERNAME_BYTES = 127
"""ckpool truncates usernames to 127 bytes (``char username[128]``)."""
_GLOB_CHARS = frozenset('*?[')
_FORBIDDEN_CHARS = frozenset('/\\*?[]')
_FORBIDDEN_CATEGORIES = frozenset(('Cc', 'Cf', 'Cs', 'Zl', 'Zp'))

USERNAME_RULE = ('A user name is 1 to 127 bytes of UTF-8 text. Refused are the names C(.) and C(..); the characters '
                 'C(/), the backslash, C(*), C(?), C([) and C(]); whitespace at the start or the end; control characters, '
                 'invisible format characters and line or paragraph separators (Unicode categories Cc, Cf, Cs, Zl '
                 'and Zp: NUL, tab, newline, DEL, U+0085, zero-width spaces, U+2028...).')
"""The rule of :func:`username_problem` as documentation text (Ansible markup)."""


def username_problem(name, pattern=False):
    """Check a user name given to a module against the one rule; return None or what is wrong.

    The rule (:data:`USERNAME_RULE`): 1 to 127 bytes of UTF-8; not ``.`` or
    ``..``; none of ``/ \\ * ? [ ]``; no whitespace at the start or end; no
    character of the Unicode categories Cc, Cf, Cs, Zl, Zp.  With
    ``pattern=True`` (``ckpool_info``'s ``users``) the glob characters
    ``* ? [ ]`` are allowed, everything else is the same.

    :returns: ``None`` when acceptable, else a short reason naming the
        offending character (as ``U+XXXX``) or property.
    """
    if not isinstance(name, str):
        return 'is not a string'
    if not name:
        return 'is empty'
    if name in ('.', '..'):
        return 'is %r, a directory name' % name
    try:
        size = len(name.encode('utf-8'))
    except UnicodeEncodeError:
        return 'is not valid UTF-8 (lone surrogate)'
    if size > MAX_USERNAME_BYTES:
        return 'is %d bytes long; ckpool cuts user names at %d bytes' % (size, MAX_USERNAME_BYTES)
    for char in name:
        if char in _FORBIDDEN_CHARS and not (pattern and char in '*?[]'):
            return 'contains %r' % char
        category = unicodedata.category(char)
        if category in _FORBIDDEN_CATEGORIES:
            return 'contains U+%04X (Unicode category %s: control, format or separator character)' % (
                ord(char), category)
    if name != name.strip():
        return 'starts or ends with whitespace'
    return None


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
    """Validate one user name or glob pattern (:func:`username_problem` with ``pattern=True``).

    :raises ValueError: naming the pattern and what is wrong with it.
    """
    problem = username_problem(pattern, pattern=True)
    if problem:
        raise ValueError('invalid user name or pattern %r: it %s' % (pattern, problem))


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
