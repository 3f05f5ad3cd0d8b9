# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading files that a ckpool instance (and its miners) can influence, safely.

Runs on the managed host (Python 3.6+, standard library only).  Every read
opens the file non-blocking (a FIFO planted in place of a file cannot hang the
reader) and checks it is a regular file before reading.

Errors: :class:`CkpoolFileError` (with ``path`` and ``reason``) for anything
unreadable or malformed, its subclass :class:`CkpoolFileMissing` when the file
does not exist.
"""

import errno
import os
import stat


class CkpoolFileError(Exception):
    """A ckpool file could not be read or parsed.

    :ivar path: the file concerned.
    :ivar reason: a human-readable reason, without the path.
    """

    def __init__(self, path, reason):
        self.path = path
        self.reason = reason
        super(CkpoolFileError, self).__init__('%s: %s' % (path, reason))


class CkpoolFileMissing(CkpoolFileError):
    """The ckpool file does not exist (ckpool not started there, or wrong logdir)."""


def read_small_file(path, limit, nofollow=False):
    """Read a whole regular file of at most ``limit`` bytes.

    Opens with ``O_NONBLOCK`` (a FIFO planted in place of the file cannot hang
    the reader) and, with ``nofollow``, ``O_NOFOLLOW`` (a symlink is refused).
    The opened descriptor must be a regular file.

    :raises CkpoolFileMissing: no such file.
    :raises CkpoolFileError: permission denied, symlink refused, not a regular
        file, too large, or another OS error.
    """
    flags = os.O_RDONLY | getattr(os, 'O_CLOEXEC', 0) | getattr(os, 'O_NONBLOCK', 0)
    if nofollow:
        flags |= getattr(os, 'O_NOFOLLOW', 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise CkpoolFileMissing(path, 'no such file')
        if exc.errno == errno.ELOOP and nofollow:
            raise CkpoolFileError(path, 'is a symbolic link; refusing to follow it')
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise CkpoolFileError(path, 'permission denied (the reading user needs read access; '
                                        'ckpool creates its logdir 0750 for its own user and group)')
        raise CkpoolFileError(path, exc.strerror or str(exc))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise CkpoolFileError(path, 'not a regular file')
        chunks = []
        total = 0
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise CkpoolFileError(path, 'larger than %d bytes; not a ckpool status file' % limit)
            chunks.append(chunk)
        return b''.join(chunks)
    except OSError as exc:
        raise CkpoolFileError(path, exc.strerror or str(exc))
    finally:
        os.close(fd)
