"""Real servers on loopback for tests and the demo: FTP/FTPS, SFTP and HTTP(S).

Each helper is a context manager that starts a server on 127.0.0.1, port 0, in a background
thread, yields an object describing it (`.host`, `.port`, `.url`, and the CA file or
known_hosts file a client needs to trust it), and stops it cleanly on exit.

HTTP simulators are plain functions: `app(method, path, headers, body) -> (status, headers, body)`,
where `path` includes the query string, `headers` has lower-case names, and the answer's body
may be bytes, text or a JSON value. An app raises `Drop` to close the connection unanswered.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncssh
import trustme
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
from pyftpdlib.servers import ThreadedFTPServer

HOST = "127.0.0.1"
App = Callable[[str, str, Mapping[str, str], bytes], tuple[int, Mapping[str, str], Any]]


class Drop(Exception):  # noqa: N818 - an instruction to the server, not an error
    """Raised by an HTTP app: close the connection without answering (a crash, a reset)."""


def _tls_files(folder: Path) -> tuple[str, str]:
    """A throwaway CA and a server certificate for 127.0.0.1: (ca_file, key_and_chain_file)."""
    ca = trustme.CA()
    cert = ca.issue_cert(HOST)
    ca_file, key_file = folder / "ca.pem", folder / "server.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.private_key_and_cert_chain_pem.write_to_path(str(key_file))
    return str(ca_file), str(key_file)


# --- FTP / FTPS --------------------------------------------------------------------------------

@dataclass(frozen=True)
class FtpServer:
    host: str
    port: int
    url: str
    root: Path
    ca_file: str | None  # trust this to verify the FTPS certificate


class _QuickThreadedFTPServer(ThreadedFTPServer):
    poll_timeout = 0.05  # worker threads notice shutdown quickly


@contextmanager
def ftp_server(root: str | Path, user: str, password: str, tls: bool = False, *,
               drop_after: int | None = None, handler: type[FTPHandler] | None = None) -> Iterator[FtpServer]:
    """pyftpdlib on loopback serving `root` to one user; TLS required on both channels if `tls`.

    `drop_after`: once the first upload has received that many bytes, drop the client's
    connection (control and data), leaving the partial file behind, as a crash would.
    `handler`: a handler class to build on instead of the default (to inject other faults).
    """
    root = Path(root)
    with tempfile.TemporaryDirectory(prefix="specbridge-ftp-") as tmp:
        authorizer = DummyAuthorizer()
        authorizer.add_user(user, password, str(root), perm="elradfmwMT")
        base = handler or (TLS_FTPHandler if tls else FTPHandler)
        # A fresh subclass per server: pyftpdlib configures handlers through class attributes.
        # auth_failed_timeout: pyftpdlib waits 3 s before refusing a login; a simulator need not.
        attrs: dict[str, Any] = {"authorizer": authorizer, "banner": "specbridge test server",
                                 "auth_failed_timeout": 0.05}
        ca_file = None
        if tls:
            ca_file, key_file = _tls_files(Path(tmp))
            attrs.update(certfile=key_file, keyfile=key_file, tls_control_required=True,
                         tls_data_required=True)
        if drop_after is not None:
            attrs["dtp_handler"] = _dropping_dtp(base.dtp_handler, drop_after)
        server = _QuickThreadedFTPServer((HOST, 0), type("Handler", (base,), attrs))
        port = server.address[1]
        stop = threading.Event()

        def serve() -> None:
            while not stop.is_set():
                server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
            server.close_all()

        thread = threading.Thread(target=serve, name=f"ftp-server-{port}", daemon=True)
        thread.start()
        try:
            yield FtpServer(HOST, port, f"{'ftps' if tls else 'ftp'}://{HOST}:{port}", root, ca_file)
        finally:
            stop.set()
            thread.join(10)


def _dropping_dtp(base: type, limit: int) -> type:
    state = {"dropped": False}

    class DroppingDTPHandler(base):  # type: ignore[misc, valid-type]
        def handle_read_event(self) -> None:
            super().handle_read_event()
            if self.receive and not state["dropped"] and self.tot_bytes_received >= limit:
                state["dropped"] = True
                self.cmd_channel.close()  # closes the data channel with it

    return DroppingDTPHandler


# --- SFTP --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SftpServer:
    host: str
    port: int
    url: str
    root: Path
    known_hosts: str  # a known_hosts file holding this server's key
    host_key_line: str


class _PasswordServer(asyncssh.SSHServer):
    def __init__(self, user: str, password: str, connections: set[asyncssh.SSHServerConnection]) -> None:
        self._user, self._password, self._connections = user, password, connections
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.discard(self._conn)  # type: ignore[arg-type]

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == self._user and password == self._password


def _sftp_factory(root: Path, drop_after: int | None) -> Callable[[Any], asyncssh.SFTPServer]:
    state = {"received": 0, "dropped": False}

    class ChrootSFTPServer(asyncssh.SFTPServer):
        def __init__(self, chan: Any) -> None:
            super().__init__(chan, chroot=str(root).encode())

        def write(self, file_obj: object, offset: int, data: bytes) -> Any:
            result = super().write(file_obj, offset, data)
            if drop_after is not None and not state["dropped"]:
                state["received"] += len(data)
                if state["received"] >= drop_after:
                    state["dropped"] = True
                    self.connection.abort()  # as if the server or the network died
            return result

    return ChrootSFTPServer


@contextmanager
def sftp_server(root: str | Path, user: str, password: str, *,
                drop_after: int | None = None) -> Iterator[SftpServer]:
    """asyncssh on loopback, chrooted to `root`, password login, a fresh ed25519 host key.

    `drop_after`: abort the connection once the first upload has written that many bytes.
    """
    root = Path(root).resolve()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="sftp-server", daemon=True)
    thread.start()
    connections: set[asyncssh.SSHServerConnection] = set()
    host_key = asyncssh.generate_private_key("ssh-ed25519")

    async def start() -> asyncssh.SSHAcceptor:
        return await asyncssh.listen(
            HOST, 0, server_host_keys=[host_key], process_factory=None,
            server_factory=lambda: _PasswordServer(user, password, connections),
            sftp_factory=_sftp_factory(root, drop_after))

    async def stop(acceptor: asyncssh.SSHAcceptor) -> None:
        acceptor.close()
        for conn in list(connections):
            conn.close()
        await acceptor.wait_closed()

    acceptor = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    port = acceptor.sockets[0].getsockname()[1]
    key_text = host_key.export_public_key().decode().split()
    line = f"[{HOST}]:{port} {key_text[0]} {key_text[1]}"
    try:
        with tempfile.TemporaryDirectory(prefix="specbridge-sftp-") as tmp:
            known_hosts = Path(tmp) / "known_hosts"
            known_hosts.write_text(line + "\n")
            yield SftpServer(HOST, port, f"sftp://{HOST}:{port}", root, str(known_hosts), line)
    finally:
        asyncio.run_coroutine_threadsafe(stop(acceptor), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


# --- HTTP --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class HttpServer:
    host: str
    port: int
    url: str
    ca_file: str | None
    requests: list[Recorded] = field(default_factory=list)  # every request, in arrival order


def _encode(body: Any, headers: dict[str, str]) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        return body.encode()
    if body is None:
        return b""
    headers.setdefault("Content-Type", "application/json")
    return json.dumps(body).encode()


def _handler(app: App, recorded: list[Recorded]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real APIs do
        # Headers and body go out in two writes; without TCP_NODELAY, Nagle plus delayed ACK
        # holds the body back ~40 ms per keep-alive request, which would swamp any latency test.
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            recorded.append(Recorded(self.command, self.path, headers, body))
            try:
                status, answer_headers, answer = app(self.command, self.path, headers, body)
            except Drop:
                self.close_connection = True
                return
            out = dict(answer_headers)
            content = _encode(answer, out)
            self.send_response(status)
            for name, value in out.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return None  # request lines can carry query-string keys; tests read `.requests`

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default listen backlog of 5 resets connections under load
    block_on_close = False  # a handler sleeping to simulate a timeout must not delay teardown

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None  # clients that hang up (timeouts, refused certificates) are expected here


@contextmanager
def http_server(app: App, *, tls: bool = False) -> Iterator[HttpServer]:
    """A threading HTTP(S) server on loopback answering every request with `app`."""
    recorded: list[Recorded] = []
    with tempfile.TemporaryDirectory(prefix="specbridge-http-") as tmp:
        server = _Server((HOST, 0), _handler(app, recorded))
        ca_file = None
        if tls:
            ca_file, key_file = _tls_files(Path(tmp))
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(key_file)
            # Handshake in the handler thread, so one slow client cannot block accept().
            server.socket = context.wrap_socket(server.socket, server_side=True,
                                                do_handshake_on_connect=False)
        port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  name=f"http-server-{port}", daemon=True)
        thread.start()
        try:
            yield HttpServer(HOST, port, f"{'https' if tls else 'http'}://{HOST}:{port}", ca_file, recorded)
        finally:
            server.shutdown()
            server.server_close()
            thread.join(10)
