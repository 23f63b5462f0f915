"""Every error specbridge raises, rooted in one class, split by the phase it belongs to.

    SpecbridgeError                   anything raised by specbridge on purpose
    ├── SpecError                     a consultant's mistake in a spec, found at load time
    │                                  (file, line, col, message, hint)
    │   └── SpecErrors                 all mistakes of one load, best first (iterable)
    ├── InputError                    bad data in one record: names the record and the field
    ├── FlowError                     a spec rule stopped the flow (an outcome rule, a failed check)
    ├── TransportError                talking to a remote system failed (names host and path, never secrets)
    │   ├── ConnectError               could not connect / log in; nothing was sent
    │   ├── AuthError                  credentials refused or token could not be obtained
    │   ├── RemoteError                the remote system answered with an error status
    │   └── UncertainOutcome           the request may have been processed (timeout, reset after send)
    ├── StoreError                    the App4Sales store failed or holds inconsistent data
    └── SettingsError                 a setting is missing, of the wrong type or cannot be read

Foreign exceptions (httpx, ftplib, paramiko, SQLAlchemy, jmespath, Jinja2) are translated into these
at one boundary per layer, so callers embedding the engine catch `SpecbridgeError` and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


class SpecbridgeError(Exception):
    """Root of every error specbridge raises on purpose."""


@dataclass(frozen=True, order=True)
class Location:
    """A 1-based position in a spec file."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class SpecError(SpecbridgeError):
    """A mistake in a spec, with where it is and, when we can tell, how to fix it."""

    def __init__(self, message: str, location: Location | None = None, hint: str | None = None) -> None:
        self.message = message
        self.location = location
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        where = f"{self.location}: " if self.location else ""
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{where}{self.message}{hint}"

    def sort_key(self) -> tuple[str, int, int]:
        loc = self.location
        return (loc.file, loc.line, loc.col) if loc else ("", 0, 0)


class SpecErrors(SpecError):
    """Several spec mistakes found in one load; iterating yields them in file order."""

    def __init__(self, errors: Iterable[SpecError]) -> None:
        self.errors = sorted(errors, key=SpecError.sort_key)
        first = self.errors[0] if self.errors else SpecError("no errors")
        super().__init__(first.message, first.location, first.hint)

    def __iter__(self) -> Iterator[SpecError]:
        return iter(self.errors)

    def __len__(self) -> int:
        return len(self.errors)

    def render(self) -> str:
        return "\n".join(e.render() for e in getattr(self, "errors", []))


class InputError(SpecbridgeError):
    """A record's data is unusable. Names the record (e.g. its code or GUID) and the field path."""

    def __init__(self, message: str, record: str | None = None, field: str | None = None) -> None:
        self.message = message
        self.record = record
        self.field = field
        parts = []
        if record:
            parts.append(f"record {record}")
        if field:
            parts.append(f"field {field}")
        prefix = (", ".join(parts) + ": ") if parts else ""
        super().__init__(prefix + message)


class FlowError(SpecbridgeError):
    """A spec rule ended the flow with an error message meant for the caller (e.g. an outcome rule)."""

    def __init__(self, message: str, step: str | None = None) -> None:
        self.message = message
        self.step = step
        super().__init__(message)


class TransportError(SpecbridgeError):
    """A remote call failed. `where` is host and path; secrets are never part of the message."""

    def __init__(self, message: str, where: str | None = None, detail: str | None = None) -> None:
        self.message = message
        self.where = where
        self.detail = detail
        text = f"{where}: {message}" if where else message
        if detail:
            text += f" ({detail})"
        super().__init__(text)


class ConnectError(TransportError):
    """Could not reach or log in to the remote system; the request was never processed."""


class AuthError(TransportError):
    """The remote system refused our credentials, or no token could be obtained."""


class RemoteError(TransportError):
    """The remote system answered with an error status; `status` and `body` hold what it said."""

    def __init__(self, message: str, where: str | None = None, status: int | None = None,
                 body: str | None = None) -> None:
        self.status = status
        self.body = body
        super().__init__(message, where, None)


class UncertainOutcome(TransportError):
    """The request was sent but no answer came back: it may or may not have been processed."""


class StoreError(SpecbridgeError):
    """The App4Sales store failed, or an operation on it is impossible (e.g. unknown table)."""


class SettingsError(SpecbridgeError):
    """A connector setting is missing, has the wrong type, or its secret cannot be read."""

    def __init__(self, message: str, setting: str | None = None) -> None:
        self.setting = setting
        super().__init__(f"setting {setting}: {message}" if setting else message)
