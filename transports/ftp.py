"""FTP and explicit FTPS (RFC 4217) as a file transport, over ftplib.

FTPS verifies the server certificate (system CAs or `ca_file`): ftplib's own default context
does not, so a context is always passed. Uploads go to a hidden temporary name in the target
folder and are renamed into place; on any failure the connection is dropped and the temporary
file removed over a fresh connection, so a partner never sees half a file.
"""

from __future__ import annotations

import contextlib
import ftplib
import io
import posixpath
import socket
import ssl
import threading
from urllib.parse import urlsplit

from engine.errors import AuthError, ConnectError, TransportError
from transports import logs
from transports.base import FileServerConfig, FileUpload, redact
from transports.logs import log
from transports.paths import resolve, stale_temps, temp_path

_FULL = ("452", "552")  # "insufficient storage" / "exceeded storage allocation"


class _SessionReusingFtpTls(ftplib.FTP_TLS):
    """Data connections resume the control connection's TLS session.

    Hardened servers refuse a data connection that does not (it proves the data channel comes
    from the same client), and ftplib does not do it by itself (CPython issue 63699).
    """

    def ntransfercmd(self, cmd: str, rest: int | str | None = None) -> tuple[socket.socket, int | None]:
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:  # type: ignore[attr-defined]
            session = getattr(self.sock, "session", None)
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=session)
        return conn, size


class FtpTransport:
    """`FileTransport` over FTP (`ftp://`) or FTPS (`ftps://`, or `tls=True`)."""

    def __init__(self, config: FileServerConfig) -> None:
        parts = urlsplit(config.url)
        if not parts.hostname:
            raise TransportError("the FTP address names no host", config.url.split("@")[-1])
        self._config = config
        self._host = parts.hostname
        self._port = parts.port or 21
        self._tls = parts.scheme.lower() == "ftps" or config.tls
        self._lock = threading.Lock()  # one control connection; ftplib is not thread-safe
        self._ftp: ftplib.FTP | None = None
        logs.register(self)

    def __repr__(self) -> str:
        return f"FtpTransport({self._where('')!r}, tls={self._tls})"

    def secrets(self) -> tuple[str, ...]:
        return (self._config.password, *self._config.secrets)

    def _where(self, path: str) -> str:
        return f"{self._host}:{self._port}{path}"

    # --- the verbs -----------------------------------------------------------------------------

    def send(self, upload: FileUpload) -> str:
        final = resolve(self._config.folder, upload.path)
        temp = temp_path(final)
        with self._lock:
            ftp = self._session()  # a refused connection or login created nothing to clean up
            try:
                ftp.storbinary(f"STOR {temp}", io.BytesIO(upload.content))
                _check_size(ftp, temp, len(upload.content))
                _replace(ftp, temp, final)
            except (*ftplib.all_errors, TransportError) as exc:
                self._drop()
                self._discard(temp)
                raise self._translate(exc, final, "upload failed") from None
            with contextlib.suppress(*ftplib.all_errors):  # litter of killed uploads: best effort
                for stale in stale_temps(ftp.nlst(posixpath.dirname(final)), final, temp):
                    ftp.delete(stale)
        log.debug("uploaded %d bytes to %s", len(upload.content), self._where(final))
        return final

    def fetch(self, path: str) -> bytes:
        source = resolve(self._config.folder, path)
        buffer = io.BytesIO()
        with self._lock:
            try:
                self._session().retrbinary(f"RETR {source}", buffer.write)
            except ftplib.all_errors as exc:
                self._drop()
                raise self._translate(exc, source, "download failed") from None
        return buffer.getvalue()

    def close(self) -> None:
        with self._lock:
            if self._ftp is not None:
                with contextlib.suppress(ftplib.all_errors):
                    self._ftp.quit()
            self._drop()

    # --- connection ----------------------------------------------------------------------------

    def _session(self) -> ftplib.FTP:
        if self._ftp is not None:
            try:
                self._ftp.voidcmd("NOOP")  # servers close idle connections; find out now
                return self._ftp
            except ftplib.all_errors:
                self._drop()
        self._ftp = self._connect()
        return self._ftp

    def _connect(self) -> ftplib.FTP:
        config, where = self._config, self._where("")
        ftp: ftplib.FTP
        if self._tls:
            context = ssl.create_default_context(cafile=config.ca_file)
            ftp = _SessionReusingFtpTls(context=context, timeout=config.timeout)
        else:
            ftp = ftplib.FTP(timeout=config.timeout)
        try:
            ftp.connect(self._host, self._port)
            ftp.login(config.username, config.password)  # FTP_TLS secures the control channel first
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()  # protect the data channel too, or file contents travel in clear
            ftp.set_pasv(not config.active)
        except ssl.SSLCertVerificationError as exc:
            ftp.close()
            raise ConnectError("the server certificate is not trusted", where,
                               self._redact(exc.verify_message or str(exc))) from None
        except ftplib.error_perm as exc:
            ftp.close()
            raise AuthError("login refused", where, self._redact(str(exc))) from None
        except (*ftplib.all_errors, ssl.SSLError) as exc:
            ftp.close()
            raise ConnectError("could not connect", where, self._describe(exc)) from None
        return ftp

    def _drop(self) -> None:
        if self._ftp is not None:
            self._ftp.close()
            self._ftp = None

    def _discard(self, temp: str) -> None:
        """Remove a temporary file after a failed upload, over a fresh connection."""
        try:
            ftp = self._connect()
        except TransportError as exc:
            log.warning("%s: could not reconnect to remove the temporary file: %s",
                        self._where(temp), exc)
            return
        try:
            ftp.delete(temp)
        except ftplib.error_perm:
            pass  # never created: nothing to remove
        except ftplib.all_errors as exc:
            log.warning("%s: could not remove the temporary file: %s", self._where(temp),
                        self._describe(exc))
        finally:
            ftp.close()

    # --- errors --------------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        return redact(text, self.secrets())

    def _describe(self, exc: BaseException) -> str:
        return self._redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)

    def _translate(self, exc: BaseException, path: str, message: str) -> TransportError:
        where = self._where(path)
        if isinstance(exc, TransportError):  # ours already: keep its class, add where if missing
            return exc if exc.where else TransportError(f"{message}: {exc.message}", where, exc.detail)
        reply = str(exc)[:3]
        if isinstance(exc, ftplib.Error) and reply in _FULL:
            return TransportError(f"{message}: the remote disk is full", where, self._redact(str(exc)))
        if isinstance(exc, ftplib.error_perm) and reply == "550":
            return TransportError(f"{message}: no such file or folder, or permission denied", where,
                                  self._redact(str(exc)))
        if isinstance(exc, EOFError | OSError):
            return TransportError(f"{message}: the connection was lost", where, self._describe(exc))
        return TransportError(message, where, self._describe(exc))


def _check_size(ftp: ftplib.FTP, path: str, expected: int) -> None:
    """Compare the stored size with what was sent; servers without SIZE are taken on trust."""
    try:
        size = ftp.size(path)
    except ftplib.error_perm:
        return
    if size is not None and size != expected:
        raise TransportError(f"the server stored {size} of {expected} bytes")


def _replace(ftp: ftplib.FTP, temp: str, final: str) -> None:
    # Many servers refuse RNTO onto an existing file, so the old one goes first. The gap between
    # DELE and RNTO is the one moment the file is absent; it is never half-written.
    with contextlib.suppress(ftplib.error_perm):
        ftp.delete(final)
    ftp.rename(temp, final)
