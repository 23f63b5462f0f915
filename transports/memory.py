"""In-memory test doubles for the transport interfaces, in the spirit of `httpx.MockTransport`.

They record what they were given and apply the same remote-path rules as the real file
transports, so a preview or a test that passes here does not fail on a real server for a name.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.errors import TransportError
from transports.base import FileUpload, HttpRequest, HttpResponse
from transports.paths import resolve


class MemoryHttpTransport:
    """Answers every request with `handler(request)` and keeps the requests in `.requests`."""

    def __init__(self, handler: Callable[[HttpRequest], HttpResponse]) -> None:
        self.handler = handler
        self.requests: list[HttpRequest] = []

    def send(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        return self.handler(request)

    def close(self) -> None:
        return None


class MemoryFileTransport:
    """A folder held in `.files` (absolute path -> bytes); `.uploads` lists every upload in order."""

    def __init__(self, files: dict[str, bytes] | None = None, folder: str = "/") -> None:
        self.files: dict[str, bytes] = dict(files or {})
        self.folder = folder
        self.uploads: list[FileUpload] = []

    def send(self, upload: FileUpload) -> str:
        final = resolve(self.folder, upload.path)
        self.uploads.append(upload)
        self.files[final] = upload.content  # one assignment: atomic by construction
        return final

    def fetch(self, path: str) -> bytes:
        final = resolve(self.folder, path)
        try:
            return self.files[final]
        except KeyError:
            raise TransportError("no such file", f"memory{final}") from None

    def close(self) -> None:
        return None
