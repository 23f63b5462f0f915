"""Remote path rules shared by every file transport.

A remote path usually contains record data (a customer code becomes a file name), so it is
checked like untrusted input: it must stay inside the configured folder, and it must not carry
characters that a protocol would read as something else (CR/LF end an FTP command, NUL ends a
C string, a backslash is a separator on Windows servers).
"""

from __future__ import annotations

import posixpath
import re
import secrets

from engine.errors import InputError

_FORBIDDEN = {"\\": "a backslash", "\x00": "a NUL byte"}


def _check_characters(text: str, what: str) -> None:
    for char in text:
        if char in _FORBIDDEN:
            raise InputError(f"unsafe {what} {text!r}: contains {_FORBIDDEN[char]}", field="path")
        if ord(char) < 0x20 or ord(char) == 0x7F:
            raise InputError(f"unsafe {what} {text!r}: contains a control character", field="path")


def normalize_folder(folder: str) -> str:
    """`folder` as an absolute POSIX path without a trailing slash ("/" stays "/")."""
    _check_characters(folder, "folder")
    if ".." in folder.split("/"):
        raise InputError(f"unsafe folder {folder!r}: contains '..'", field="path")
    return posixpath.normpath("/" + folder.strip("/")) if folder.strip("/") else "/"


def check_name(name: str) -> str:
    """A single file name (no folders), e.g. one built from a record's code."""
    _check_characters(name, "file name")
    if not name or name in (".", ".."):
        raise InputError(f"unsafe file name {name!r}", field="path")
    if "/" in name:
        raise InputError(f"unsafe file name {name!r}: contains a path separator", field="path")
    return name


def resolve(folder: str, path: str) -> str:
    """The absolute remote path for `path` under `folder`; refuse anything that could leave it.

    A relative `path` lands inside `folder` (sub-folders allowed); an absolute one must already
    point inside `folder`. `..` is refused outright rather than normalized away, because a
    name containing it is a mistake or an attack either way.
    """
    base = normalize_folder(folder)
    _check_characters(path, "path")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts:
        raise InputError(f"unsafe path {path!r}: names no file", field="path")
    if ".." in parts:
        raise InputError(f"unsafe path {path!r}: contains '..'", field="path")
    if path.startswith("/"):
        final = "/" + "/".join(parts)
        inside = base == "/" or final.startswith(base + "/")
        if not inside:
            raise InputError(f"unsafe path {path!r}: outside the folder {base!r}", field="path")
        return final
    return posixpath.join(base, *parts)


_TEMP = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{12}\.part$")


def stale_temps(entries: list[str], final: str, own: str) -> list[str]:
    """Temporary files of earlier uploads of `final` that never finished (their process died).

    Run after our own upload of the same file succeeded: whatever they held is superseded, and a
    killed process would otherwise leave its hidden `.part` file in the folder for good.
    """
    folder, name = posixpath.split(final)
    own_name = posixpath.basename(own)
    stale = []
    for entry in entries:
        base = posixpath.basename(entry)
        match = _TEMP.match(base)
        if match and match.group("name") == name and base != own_name:
            stale.append(posixpath.join(folder, base))
    return stale


def temp_path(final: str) -> str:
    """A hidden, unique temporary name in the same folder as `final`, so the rename is atomic.

    Same folder because a rename across folders (or file systems) is not atomic; hidden and
    `.part` so that a partner polling the folder ignores it.
    """
    folder, name = posixpath.split(final)
    return posixpath.join(folder, f".{name}.{secrets.token_hex(6)}.part")
