"""A local folder as a file transport (`file:///path`), with the same atomic-upload contract.

The URL's path acts as the root, like a server's root: `folder` and absolute upload paths are
read inside it, so a spec cannot write next to it any more than it could on an FTP server.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from engine.errors import TransportError
from transports.base import FileServerConfig, FileUpload
from transports.paths import resolve, stale_temps, temp_path

_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.ENOENT: "the folder or file does not exist",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the file system is read-only",
}


class LocalFileTransport:
    """`FileTransport` over a local folder: temporary file, fsync, `os.replace`."""

    def __init__(self, config: FileServerConfig) -> None:
        parts = urlsplit(config.url)
        if parts.netloc not in ("", "localhost"):
            raise TransportError(f"a file URL names a local folder, not host {parts.netloc!r}")
        self._root = Path(unquote(parts.path) or "/")
        self._folder = config.folder

    def __repr__(self) -> str:
        return f"LocalFileTransport({str(self._root)!r})"

    def _local(self, path: str) -> tuple[str, Path]:
        remote = resolve(self._folder, path)
        return remote, self._root / remote.lstrip("/")

    def send(self, upload: FileUpload) -> str:
        remote, target = self._local(upload.path)
        temp = self._root / temp_path(remote).lstrip("/")
        try:
            # O_EXCL: the temporary name is ours alone, never someone else's file.
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "wb") as handle:
                handle.write(upload.content)
                handle.flush()
                os.fsync(handle.fileno())  # the data is on disk before the name points at it
            os.replace(temp, target)
            _fsync_folder(target.parent)
        except OSError as exc:
            _discard(temp)
            raise _error("upload failed", target, exc) from None
        with contextlib.suppress(OSError):  # litter of killed uploads: best effort
            for stale in stale_temps(os.listdir(target.parent), target.name, temp.name):
                (target.parent / os.path.basename(stale)).unlink()
        return remote

    def fetch(self, path: str) -> bytes:
        _, source = self._local(path)
        try:
            return source.read_bytes()
        except OSError as exc:
            raise _error("download failed", source, exc) from None

    def close(self) -> None:
        return None


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable; some platforms cannot open a folder, which is fine."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _discard(temp: Path) -> None:
    # Best effort: the error that made us discard is the one worth reporting.
    with contextlib.suppress(OSError):
        temp.unlink(missing_ok=True)


def _error(message: str, where: Path, exc: OSError) -> TransportError:
    reason = _REASONS.get(exc.errno or 0, exc.strerror or type(exc).__name__)
    return TransportError(f"{message}: {reason}", f"localhost:{where}")
