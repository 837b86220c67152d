"""One daemon per database: an advisory lock that dies with the process that holds it."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from notifier.store.connection import StoreError


class AlreadyRunning(Exception):
    """Another notifier process holds the store; running a second would double-send."""


class StoreLock:
    """`flock` on `<store>.lock`: the kernel releases it when the holder exits or is killed."""

    def __init__(self, store_path: Path) -> None:
        self.path = Path(f"{store_path}.lock")
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = self.path.open("a+")
        except OSError as exc:
            raise StoreError(f"cannot create the lock file {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise AlreadyRunning(
                f"another notifier (pid {holder}) is already using the store "
                f"{self.path.with_suffix('')}; run one daemon per database"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
