"""The alert journal (the spool): where an alert is durable on local disk until the database
has it.

Layout under ``ALERT_SPOOL_DIR``::

    <host>-<pid>-<random>/      one folder per process that wrote: its journal
        .lock                   held (exclusive ``flock``) by that process as long as it lives
        <time_ns>-<seq>.json    one alert, oldest first by name
    *.json                      written by versions before per-process folders (``.lock`` beside)
    .rejected/                  entries that could not be read back, kept for a person to look at

An entry is written to a temporary name, fsynced, renamed, and its folder fsynced: once
:meth:`AlertSpool.write` returns, the alert survives a process crash *and* a machine crash.

Each folder is replayed only by whoever holds its lock: the owner replays its own; a folder
whose lock is free belonged to a process that is gone (killed, or stopped with the database
down) and is adopted by the first process that locks it, then removed once empty. ``flock``
locks die with their process, so a ``kill -9`` frees the folder at once; and they belong to an
open file, so two spools in one process exclude each other as two processes do.

Alerts carry what went wrong, so folders are made 0700 and files 0600: the owner's eyes only.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import re
import secrets
import socket
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, Final, TextIO

__all__ = ["AlertSpool", "JournalFolder"]

_LOCK: Final = ".lock"
_REJECTED: Final = ".rejected"
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]")


class JournalFolder:
    """One journal folder whose lock this process holds (its own, or adopted)."""

    def __init__(self, path: Path, lock_fd: int, *, prefix: str) -> None:
        self.path = path
        self._fd: int | None = lock_fd
        self._prefix = prefix  # "<folder>/" for entry keys; "" for the legacy files at the root

    def key(self, entry: Path) -> str:
        """The entry's name across processes and hosts: ``<folder>/<file>``."""
        return f"{self._prefix}{entry.name}"

    def entries(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Entries, oldest first; one that can't be parsed is set aside in ``.rejected``."""
        for path in sorted(self.path.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                continue  # replayed already by this process (another thread's pass)
            except (OSError, ValueError):
                self.reject(path)
                continue
            if isinstance(data, dict):
                yield path, data
            else:
                self.reject(path)

    def reject(self, entry: Path) -> None:
        """Move an entry that can never be replayed out of the way (it would block the rest)."""
        root = self.path.parent if self._prefix else self.path
        name = self._prefix.replace("/", "-") + entry.name
        with contextlib.suppress(OSError):
            (root / _REJECTED).mkdir(mode=0o700, exist_ok=True)
            os.replace(entry, root / _REJECTED / name)

    def is_empty(self) -> bool:
        return not any(self.path.glob("*.json"))

    def release(self, *, remove_if_empty: bool) -> None:
        """Let the lock go; an empty folder (not the root) is removed first, under the lock,
        so nobody can adopt it half-removed."""
        if self._fd is None:
            return
        if remove_if_empty and self._prefix and self.is_empty():
            with contextlib.suppress(OSError):
                for leftover in self.path.glob(".*.tmp"):
                    leftover.unlink()
                (self.path / _LOCK).unlink()
                self.path.rmdir()
        os.close(self._fd)  # closing the file releases its flock
        self._fd = None


class AlertSpool:
    """The journal under ``directory``; this process's own folder is made on the first write.

    Args:
        directory: ``ALERT_SPOOL_DIR``, shared by every worker and instance on this host.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._own: JournalFolder | None = None
        self._own_pid = 0
        self._seq = itertools.count()

    # -- writing ----------------------------------------------------------------------------
    def write(self, record: dict[str, Any]) -> Path:
        """Write ``record`` as a new entry of this process's journal; durable on return."""
        folder = self._own_folder()
        name = f"{time.time_ns():020d}-{next(self._seq):06d}.json"
        final = folder.path / name
        _write_durably(final, record)
        return final

    def update(self, path: Path, **changes: Any) -> None:
        """Rewrite an entry with ``changes`` (durably); nothing if it was replayed already."""
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        record.update(changes)
        _write_durably(path, record)

    # -- reading ----------------------------------------------------------------------------
    def own_entries(self) -> list[tuple[Path, dict[str, Any]]]:
        """This process's journal entries, oldest first."""
        own = self._current_own()
        return list(own.entries()) if own is not None else []

    def folders(self, *, adopt: bool = True) -> Generator[JournalFolder, None, None]:
        """The folders this process may replay, each locked while the caller works on it:
        its own first, then (``adopt``) every folder of a process that is gone, and the files
        older versions left at the root. Close the iterator (``contextlib.closing``) to let
        the last one go if you stop early."""
        own = self._current_own()
        if own is not None:
            yield own
        if not adopt or not self.directory.is_dir():
            return
        for path in sorted(self.directory.iterdir()):
            if path.name.startswith(".") or not path.is_dir() or (own and path == own.path):
                continue
            folder = _try_lock(path, prefix=f"{path.name}/")
            if folder is None:
                continue  # its process is alive, or another one is adopting it right now
            try:
                yield folder
            finally:
                folder.release(remove_if_empty=True)
        yield from self._legacy()

    def _legacy(self) -> Iterator[JournalFolder]:
        if not any(self.directory.glob("*.json")):
            return
        folder = _try_lock(self.directory, prefix="")
        if folder is not None:
            try:
                yield folder
            finally:
                folder.release(remove_if_empty=False)

    def __len__(self) -> int:
        """Entries waiting, in every folder."""
        if not self.directory.is_dir():
            return 0
        top = sum(1 for _ in self.directory.glob("*.json"))
        return top + sum(1 for _ in self.directory.glob("[!.]*/*.json"))

    def close(self) -> None:
        """Let this process's folder go: removed when empty, else left for adoption."""
        own, self._own = self._own, None
        if own is not None and self._own_pid == os.getpid():
            own.release(remove_if_empty=True)

    # -- this process's folder ------------------------------------------------------------
    def _current_own(self) -> JournalFolder | None:
        if self._own is not None and self._own_pid != os.getpid():
            # A forked child shares the parent's lock; it must write a journal of its own.
            self._own = None
        return self._own

    def _own_folder(self) -> JournalFolder:
        own = self._current_own()
        if own is None:
            own = self._own = self._make_own()
            self._own_pid = os.getpid()
        return own

    def _make_own(self) -> JournalFolder:
        """A new folder, locked before it gets the name adopters look for."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        host = _UNSAFE.sub("_", socket.gethostname())[:40]
        name = f"{host}-{os.getpid()}-{secrets.token_hex(4)}"
        staging = self.directory / f".new-{name}"
        staging.mkdir(mode=0o700)
        fd = os.open(staging / _LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        final = self.directory / name
        os.rename(staging, final)
        _fsync_dir(self.directory)
        return JournalFolder(final, fd, prefix=f"{name}/")


def _try_lock(path: Path, *, prefix: str) -> JournalFolder | None:
    """``path``'s lock if nobody holds it, else None."""
    lock = path / _LOCK
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return None  # the folder was removed a moment ago
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # Locked: but if its adopter removed the file meanwhile, this lock guards nothing.
        if os.fstat(fd).st_ino != os.stat(lock).st_ino:
            raise FileNotFoundError(lock)
    except OSError:
        os.close(fd)
        return None
    return JournalFolder(path, fd, prefix=prefix)


def _write_durably(final: Path, record: dict[str, Any]) -> None:
    tmp = final.with_name(f".{final.name}.tmp")
    with _open_private(tmp) as fh:
        json.dump(record, fh, default=str)
        fh.flush()
        os.fsync(fh.fileno())  # the point of the journal is to survive what comes next
    os.replace(tmp, final)
    _fsync_dir(final.parent)  # and the name too: a machine crash must not lose the rename


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _open_private(path: Path) -> TextIO:
    """``path`` truncated for writing, created 0600 (the mode is set at creation, so there is
    no moment when another user could open it)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return os.fdopen(fd, "w", encoding="utf-8")
