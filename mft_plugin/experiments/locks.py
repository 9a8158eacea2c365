"""
Locks that keep two `mft-experiment` processes from training in one output folder at once.

A lock is an `fcntl.flock` on a file under `OUT/locks/`, which also records the holder's pid
and command for the message a refused process prints. The operating system releases a flock
when its process ends, however it ends (kill -9 included), so a lock left by a dead process
never blocks: the file stays, the lock does not. Where `fcntl` is missing (Windows) nothing is
locked, with a warning.
"""
import logging
import os
import sys
from pathlib import Path
from typing import IO, Optional

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)


class LockHeld(RuntimeError):
    """Another live process holds the lock."""


class FolderLock:
    """
    An exclusive (or, with `shared`, a shared) non-blocking lock of `path`, held from `acquire`
    to `release` (or the `with` block). `what` says what is locked, for the message of a
    process that finds it held.
    """

    def __init__(self, path: Path, what: str, shared: bool = False) -> None:
        self.path = Path(path)
        self.what = what
        self.shared = shared
        self._handle: Optional[IO[str]] = None

    def acquire(self) -> "FolderLock":
        if fcntl is None:
            logger.warning("No fcntl here: %s is not locked against a second runner", self.what)
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")
        mode = fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX
        try:
            fcntl.flock(handle.fileno(), mode | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise LockHeld(
                f"{self.what} is in use by {holder} (lock {self.path}). Two runners in one "
                "folder would delete each other's runs: wait for it to finish or stop it, then "
                "run the same command again. A lock of a process that has ended holds nothing."
            )
        if not self.shared:
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} ({' '.join(sys.argv)[:300]})\n")
            handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc_info) -> Optional[bool]:
        self.release()
        return None
