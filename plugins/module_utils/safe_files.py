# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ckpool.fleet contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading files that a ckpool instance (and its miners) can influence, safely.

Runs on the managed host (Python 3.6+, standard library only).

Guarantees of every reader here:

* a file is opened **non-blocking** (``O_NONBLOCK``) and checked to be a
  **regular file** (``fstat``) before a byte is read, so a FIFO, socket or
  device planted in place of a file cannot hang or confuse the reader;
* below a root directory (the instance's ``log_dir``), every component is
  opened relative to its parent's descriptor with ``O_NOFOLLOW`` (directories
  with ``O_DIRECTORY`` as well): **no symbolic link below the root is
  followed**, whether it points inside or outside it, so nothing outside the
  root can be read through a link planted below it (``users/`` replaced by a
  link to ``/root`` included).  ckpool itself creates no links there.  The
  root itself may be a link (an operator's choice).
* sizes are bounded: a file over its limit is refused with a message naming
  the limit.

Errors: :class:`CkpoolFileError` (with ``path`` and ``reason``) for anything
unreadable, unsafe or malformed; its subclass :class:`CkpoolFileMissing` when
the file (or a directory on the way) does not exist.
"""

import errno
import os
import stat

_CLOEXEC = getattr(os, 'O_CLOEXEC', 0)
_NONBLOCK = getattr(os, 'O_NONBLOCK', 0)
_NOFOLLOW = getattr(os, 'O_NOFOLLOW', 0)
_DIRECTORY = getattr(os, 'O_DIRECTORY', 0)

FILE_FLAGS = os.O_RDONLY | _CLOEXEC | _NONBLOCK | _NOFOLLOW
"""Flags for a file below a root: read-only, non-blocking, no symlink."""

DIR_FLAGS = os.O_RDONLY | _CLOEXEC | _DIRECTORY | _NOFOLLOW
"""Flags for a directory below a root: must be a directory, no symlink."""


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


def describe_mode(mode):
    """Name the kind of file a ``st_mode`` describes (``"a FIFO"``, ``"a directory"``...)."""
    for test, text in ((stat.S_ISREG, 'a regular file'), (stat.S_ISDIR, 'a directory'),
                       (stat.S_ISFIFO, 'a FIFO (named pipe)'), (stat.S_ISSOCK, 'a socket'),
                       (stat.S_ISLNK, 'a symbolic link'), (stat.S_ISCHR, 'a character device'),
                       (stat.S_ISBLK, 'a block device')):
        if test(mode):
            return text
    return 'an unknown kind of file'


def _os_error(path, exc, directory=False, below_root=False):
    """Map an OSError from opening ``path`` to a CkpoolFileError with a precise reason."""
    code = exc.errno
    if code == errno.ENOENT:
        return CkpoolFileMissing(path, 'no such file or directory')
    if code == errno.ELOOP:
        if below_root:
            return CkpoolFileError(path, 'is a symbolic link; links below the log directory are not followed '
                                         '(ckpool creates none: it may lead out of the log directory)')
        return CkpoolFileError(path, 'is a symbolic link; refusing to follow it')
    if code == errno.ENOTDIR:
        if directory:
            return CkpoolFileError(path, 'is not a directory')
        return CkpoolFileError(path, 'a component of the path is not a directory')
    if code in (errno.EACCES, errno.EPERM):
        return CkpoolFileError(path, 'permission denied (the reading user needs read access; ckpool creates '
                                     'its log directories 0750 for its own user and group)')
    if code == errno.ENXIO:
        return CkpoolFileError(path, 'is a socket, not a regular file')
    return CkpoolFileError(path, exc.strerror or str(exc))


def _is_link(name, dir_fd):
    """True when ``name`` in directory ``dir_fd`` is a symbolic link."""
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _check_regular(fd, path):
    """Raise CkpoolFileError unless ``fd`` is a regular file; return its stat."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise CkpoolFileError(path, 'is %s, not a regular file' % describe_mode(st.st_mode))
    return st


def _regular_fd(fd, path):
    """Return ``fd`` when it is a regular file; otherwise close it and raise CkpoolFileError."""
    try:
        _check_regular(fd, path)
    except Exception:
        os.close(fd)
        raise
    return fd


def read_fd(fd, path, limit, what='file', size=None):
    """Read the whole of an open file of at most ``limit`` bytes.

    ``size`` (from ``fstat``) lets a regular file be read in one call: a read
    that returns less than asked has reached the end of the file.

    :raises CkpoolFileError: over the limit (the message names ``what`` and the
        limit), or a read error.
    """
    if size is not None and size < limit:
        try:
            data = os.read(fd, size + 1)
        except OSError as exc:
            raise CkpoolFileError(path, exc.strerror or str(exc))
        if len(data) <= size:
            return data
        chunks = [data]
        total = len(data)
    else:
        chunks = []
        total = 0
    try:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise CkpoolFileError(path, 'larger than %d bytes, the limit for %s' % (limit, what))
            chunks.append(chunk)
    except OSError as exc:
        raise CkpoolFileError(path, exc.strerror or str(exc))
    return b''.join(chunks)


def open_regular(path, nofollow=False):
    """Open a file by path non-blocking, check it is a regular file and return the descriptor.

    :raises CkpoolFileMissing: no such file.
    :raises CkpoolFileError: a symlink (with ``nofollow``), not a regular file,
        permission denied, another OS error.
    """
    flags = os.O_RDONLY | _CLOEXEC | _NONBLOCK
    if nofollow:
        flags |= _NOFOLLOW
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _os_error(path, exc)
    return _regular_fd(fd, path)


def read_small_file(path, limit, nofollow=False, what='file'):
    """Read a whole regular file of at most ``limit`` bytes, by path.

    Opens with ``O_NONBLOCK`` (a FIFO planted in place of the file cannot hang
    the reader) and, with ``nofollow``, ``O_NOFOLLOW`` (a symlink is refused).
    For files below a log directory use :func:`read_file_below` instead.

    :raises CkpoolFileMissing: no such file.
    :raises CkpoolFileError: permission denied, symlink refused, not a regular
        file, over ``limit`` (the message names ``what``), or another OS error.
    """
    fd = open_regular(path, nofollow=nofollow)
    try:
        return read_fd(fd, path, limit, what)
    finally:
        os.close(fd)


def _split(parts):
    """Validate relative path components: no empty, ``.``, ``..`` or ``/``-containing part."""
    parts = list(parts)
    for part in parts:
        if not isinstance(part, str) or part in ('', '.', '..') or '/' in part or '\x00' in part:
            raise ValueError('unsafe path component %r' % (part,))
    return parts


def open_root(root):
    """Open the root directory (a link there is followed: the operator chose it)."""
    try:
        return os.open(root, os.O_RDONLY | _CLOEXEC | _DIRECTORY)
    except OSError as exc:
        raise _os_error(root, exc, directory=True)


def open_dir_below(root, parts):
    """Open ``root/parts...`` as a directory without following any link below ``root``.

    :returns: a directory descriptor (the caller closes it).
    :raises ValueError: an unsafe component.
    :raises CkpoolFileMissing: a component does not exist.
    :raises CkpoolFileError: a component is a link or not a directory, or permission denied.
    """
    parts = _split(parts)
    fd = open_root(root)
    path = root
    try:
        for part in parts:
            path = os.path.join(path, part)
            try:
                new_fd = os.open(part, DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ENOTDIR, errno.ELOOP) and _is_link(part, fd):
                    exc = OSError(errno.ELOOP, os.strerror(errno.ELOOP))
                raise _os_error(path, exc, directory=True, below_root=True)
            os.close(fd)
            fd = new_fd
    except Exception:
        os.close(fd)
        raise
    return fd


def open_file_below(root, parts):
    """Open the regular file ``root/parts...`` non-blocking, following no link below ``root``.

    :returns: ``(fd, path)``; the caller closes ``fd``.
    :raises ValueError: an unsafe component.
    :raises CkpoolFileMissing: the file or a directory on the way does not exist.
    :raises CkpoolFileError: a link below the root, a directory that is not one,
        not a regular file (FIFO, socket, device, directory), permission denied.
    """
    parts = _split(parts)
    if not parts:
        raise ValueError('a file below %s needs at least one path component' % (root,))
    dir_fd = open_dir_below(root, parts[:-1])
    path = os.path.join(root, *parts)
    try:
        return open_at(dir_fd, parts[-1], path), path
    finally:
        os.close(dir_fd)


def open_at(dir_fd, name, path):
    """Open regular file ``name`` in directory ``dir_fd`` non-blocking without following a link.

    ``path`` is only used in messages.  Returns the descriptor.
    """
    try:
        fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise _os_error(path, exc, below_root=True)
    return _regular_fd(fd, path)


def read_file_below(root, parts, limit, what='file'):
    """Read the whole regular file ``root/parts...`` (at most ``limit`` bytes) safely.

    See :func:`open_file_below` for the checks and errors.
    """
    fd, path = open_file_below(root, parts)
    try:
        return read_fd(fd, path, limit, what)
    finally:
        os.close(fd)


class DirBelow(object):
    """A directory below a root, opened once, for many safe reads (``users/`` with 100 000 files).

    Use as a context manager.  :meth:`names` lists it; :meth:`read` reads one
    regular file in it (non-blocking, no link followed).
    """

    def __init__(self, root, parts):
        self.path = os.path.join(root, *_split(parts)) if parts else root
        self.fd = open_dir_below(root, parts)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def entries(self):
        """Yield ``(name, is_regular_file)`` for every entry; links are never regular here.

        Uses ``os.scandir`` on the descriptor where Python supports it (3.7+),
        else ``os.listdir`` plus ``lstat`` relative to it (3.6).
        """
        if os.scandir in getattr(os, 'supports_fd', ()):
            # scandir() duplicates the descriptor and leaves ours open
            iterator = os.scandir(self.fd)
            with iterator:
                for entry in iterator:
                    try:
                        regular = entry.is_file(follow_symlinks=False)
                    except OSError:
                        regular = False
                    yield entry.name, regular
            return
        try:
            names = os.listdir(self.fd)
        except OSError as exc:
            raise CkpoolFileError(self.path, exc.strerror or str(exc))
        for name in names:
            try:
                st = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
            except OSError:
                yield name, False
                continue
            yield name, stat.S_ISREG(st.st_mode)

    def is_regular(self, name):
        """True when ``name`` is a regular file in this directory (a link is not)."""
        try:
            st = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except OSError:
            return False
        return stat.S_ISREG(st.st_mode)

    def read(self, name, limit, what='file'):
        """Read regular file ``name`` (no ``/``) of at most ``limit`` bytes."""
        try:
            fd = os.open(name, FILE_FLAGS, dir_fd=self.fd)
        except OSError as exc:
            raise _os_error(os.path.join(self.path, name), exc, below_root=True)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise CkpoolFileError(os.path.join(self.path, name),
                                      'is %s, not a regular file' % describe_mode(st.st_mode))
            return read_fd(fd, None, limit, what, size=st.st_size)
        except CkpoolFileError as exc:
            if exc.path is None:
                exc = CkpoolFileError(os.path.join(self.path, name), exc.reason)
            raise exc
        finally:
            os.close(fd)
