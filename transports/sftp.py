"""SFTP as a file transport, over paramiko.

The host key is checked against `known_hosts` (or ~/.ssh/known_hosts) and an unknown host is
refused: accepting any key would let anyone on the path read the files and the password.
`accept_unknown_host_key` is an explicit, logged opt-out for development.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import threading
from urllib.parse import urlsplit

import paramiko

from engine.errors import AuthError, ConnectError, TransportError
from transports import logs
from transports.base import FileServerConfig, FileUpload, redact
from transports.logs import log
from transports.paths import resolve, stale_temps, temp_path

_REASONS = {
    errno.ENOENT: "no such file or folder",
    errno.EACCES: "permission denied",
    errno.ENOSPC: "the remote disk is full",
}
_ERRORS = (OSError, EOFError, paramiko.SSHException)


class SftpTransport:
    """`FileTransport` over SFTP (`sftp://host[:port]`)."""

    def __init__(self, config: FileServerConfig) -> None:
        parts = urlsplit(config.url)
        if not parts.hostname:
            raise TransportError("the SFTP address names no host", config.url.split("@")[-1])
        self._config = config
        self._host = parts.hostname
        self._port = parts.port or 22
        self._lock = threading.Lock()  # one SFTP session, used by one thread at a time
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        logs.register(self)

    def __repr__(self) -> str:
        return f"SftpTransport({self._where('')!r})"

    def secrets(self) -> tuple[str, ...]:
        return (self._config.password, *self._config.secrets)

    def _where(self, path: str) -> str:
        return f"{self._host}:{self._port}{path}"

    # --- the verbs -----------------------------------------------------------------------------

    def send(self, upload: FileUpload) -> str:
        final = resolve(self._config.folder, upload.path)
        temp = temp_path(final)
        with self._lock:
            sftp = self._session()
            try:
                with sftp.open(temp, "wb") as handle:
                    handle.set_pipelined(True)  # don't wait for an ack per block
                    handle.write(upload.content)
                size = sftp.stat(temp).st_size
                if size != len(upload.content):
                    raise TransportError(f"the server stored {size} of {len(upload.content)} bytes")
                _replace(sftp, temp, final)
            except (*_ERRORS, TransportError) as exc:
                self._drop()
                self._discard(temp)
                raise self._translate(exc, final, "upload failed") from None
            with contextlib.suppress(*_ERRORS):  # litter of killed uploads: best effort
                for stale in stale_temps(sftp.listdir(posixpath.dirname(final)), final, temp):
                    sftp.remove(stale)
        log.debug("uploaded %d bytes to %s", len(upload.content), self._where(final))
        return final

    def fetch(self, path: str) -> bytes:
        source = resolve(self._config.folder, path)
        with self._lock:
            sftp = self._session()
            try:
                with sftp.open(source, "rb") as handle:
                    return handle.read()
            except _ERRORS as exc:
                self._drop()
                raise self._translate(exc, source, "download failed") from None

    def close(self) -> None:
        with self._lock:
            self._drop()

    # --- connection ----------------------------------------------------------------------------

    def _session(self) -> paramiko.SFTPClient:
        transport = self._client.get_transport() if self._client is not None else None
        if self._sftp is not None and transport is not None and transport.is_active():
            return self._sftp
        self._drop()
        self._client, self._sftp = self._connect()
        return self._sftp

    def _connect(self) -> tuple[paramiko.SSHClient, paramiko.SFTPClient]:
        config, where = self._config, self._where("")
        client = paramiko.SSHClient()
        # "System" host keys: read for checking, never written back (AutoAddPolicy would save
        # into a file loaded with load_host_keys).
        known = config.known_hosts or os.path.expanduser("~/.ssh/known_hosts")
        try:
            if config.known_hosts or os.path.exists(known):
                client.load_system_host_keys(known)
        except OSError as exc:
            raise ConnectError("cannot read the known_hosts file", where, exc.strerror) from None
        if config.accept_unknown_host_key:
            log.warning("%s: accepting an unknown SSH host key without checking it "
                        "(accept_unknown_host_key is set); do not use this in production", where)
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        else:
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(self._host, self._port, username=config.username, password=config.password,
                           timeout=config.timeout, banner_timeout=config.timeout,
                           auth_timeout=config.timeout, allow_agent=False, look_for_keys=False)
            sftp = client.open_sftp()
            channel = sftp.get_channel()
            if channel is not None:
                channel.settimeout(config.timeout)  # a stalled server must not hang a run
        except paramiko.BadHostKeyException:
            client.close()
            raise ConnectError("the host key does not match known_hosts: refusing to connect "
                               "(the server was reinstalled, or someone is in between)", where) from None
        except paramiko.AuthenticationException:
            client.close()
            raise AuthError("login refused", where) from None
        except paramiko.SSHException as exc:
            client.close()
            if "known_hosts" in str(exc):
                raise ConnectError("the host key is unknown: add it to known_hosts", where) from None
            raise ConnectError("could not connect", where, self._describe(exc)) from None
        except (OSError, EOFError) as exc:
            client.close()
            raise ConnectError("could not connect", where, self._describe(exc)) from None
        return client, sftp

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()  # closes the SFTP channel with it
        self._client = self._sftp = None

    def _discard(self, temp: str) -> None:
        """Remove a temporary file after a failed upload, over a fresh connection."""
        try:
            client, sftp = self._connect()
        except TransportError as exc:
            log.warning("%s: could not reconnect to remove the temporary file: %s",
                        self._where(temp), exc)
            return
        try:
            sftp.remove(temp)
        except FileNotFoundError:
            pass  # never created: nothing to remove
        except _ERRORS as exc:
            log.warning("%s: could not remove the temporary file: %s", self._where(temp),
                        self._describe(exc))
        finally:
            client.close()

    # --- errors --------------------------------------------------------------------------------

    def _describe(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return redact(text, self.secrets())

    def _translate(self, exc: BaseException, path: str, message: str) -> TransportError:
        where = self._where(path)
        if isinstance(exc, TransportError):  # ours already: keep its class, add where if missing
            return exc if exc.where else TransportError(f"{message}: {exc.message}", where, exc.detail)
        if isinstance(exc, OSError) and exc.errno in _REASONS:
            return TransportError(f"{message}: {_REASONS[exc.errno]}", where)
        if isinstance(exc, EOFError | paramiko.SSHException | OSError):
            return TransportError(f"{message}: the connection was lost or refused the operation",
                                  where, self._describe(exc))
        return TransportError(message, where, self._describe(exc))


def _replace(sftp: paramiko.SFTPClient, temp: str, final: str) -> None:
    try:
        sftp.posix_rename(temp, final)  # OpenSSH extension: atomic and overwrites
        return
    except OSError as exc:
        # Only a server without the extension takes the fallback: after any other failure,
        # removing the old file first could lose it.
        if exc.errno is not None or "unsupported" not in str(exc).lower():
            raise
    # Plain SFTP rename refuses an existing target, so the old file goes first.
    with contextlib.suppress(FileNotFoundError):
        sftp.remove(final)
    sftp.rename(temp, final)
