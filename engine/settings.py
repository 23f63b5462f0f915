"""Typed connector settings: declared in the spec, given per run, secrets kept out of sight.

A value given as `env:NAME` is read from the environment (and must exist). Values are converted
to the declared type explicitly; a value that does not fit is an error naming the setting.
Secret values are collected so every output path can blank them out (`Settings.redact`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SettingsError
from .functions import _text

SETTING_TYPES = ("string", "integer", "number", "boolean", "list")


@dataclass(frozen=True)
class SettingDecl:
    name: str
    type: str = "string"
    default: Any = None
    has_default: bool = False
    required: bool = False
    secret: bool = False
    enum: tuple[Any, ...] | None = None
    description: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one run: typed values plus the secret values to redact."""

    values: Mapping[str, Any]
    secrets: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        # Longest first, so a secret that contains another is blanked whole; sorted once, since
        # everything a run shows goes through `redact`.
        ordered = sorted((s for s in self.secrets if len(s) >= 3), key=len, reverse=True)
        object.__setattr__(self, "_redacted", tuple(ordered))

    def redact(self, text: str) -> str:
        for secret in self._redacted:  # type: ignore[attr-defined]
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def redact_deep(self, value: Any) -> Any:
        """`redact` applied to every text inside lists and objects (previews, traces, writes)."""
        if not self.secrets:
            return value
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, list):
            return [self.redact_deep(v) for v in value]
        if isinstance(value, dict):
            return {k: self.redact_deep(v) for k, v in value.items()}
        return value

    def public(self) -> dict[str, Any]:
        """The values with secrets shown as ***, for previews and logs."""
        return {k: ("***" if _text(v) in self.secrets and v not in (None, "") else v)
                for k, v in self.values.items()}


def convert(decl: SettingDecl, value: Any) -> Any:
    if value is None:
        return None
    kind = decl.type
    try:
        if kind == "string":
            return value if isinstance(value, str) else _text(value)
        if kind == "integer":
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(str(value).strip()) if not isinstance(value, int | float) else int(value)
        if kind == "number":
            if isinstance(value, bool):
                raise ValueError
            return value if isinstance(value, int | float) else float(str(value).strip())
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            text = _text(value).strip().lower()
            if text in {"true", "1", "yes", "on"}:
                return True
            if text in {"false", "0", "no", "off", ""}:
                return False
            raise ValueError
        if kind == "list":
            if isinstance(value, list):
                return [_text(v).strip() for v in value if _text(v).strip()]
            return [p.strip() for p in _text(value).split(",") if p.strip()]
    except (TypeError, ValueError):
        shown = "the value given" if decl.secret else repr(value)
        raise SettingsError(f"{shown} is not a valid {kind}", decl.name) from None
    raise SettingsError(f"unknown type {kind}", decl.name)


def resolve(decls: Mapping[str, SettingDecl], given: Mapping[str, Any] | None,
            environ: Mapping[str, str] | None = None) -> Settings:
    """Typed values for every declared setting, from `given`, the environment and defaults."""
    environ = os.environ if environ is None else environ
    given = dict(given or {})
    # Every secret given, known before any check can fail: a message about another setting (a
    # secret pasted into the wrong field) must not print it either.
    known = [environ.get(v[4:], "") if isinstance(v, str) and v.startswith("env:") else _text(v)
             for name, v in given.items() if name in decls and decls[name].secret and v not in (None, "")]
    try:
        return _resolve(decls, given, environ)
    except SettingsError as exc:
        message = str(exc)
        for secret in sorted((s for s in known if len(s) >= 3), key=len, reverse=True):
            message = message.replace(secret, "***")
        raise SettingsError(message) from None


def _resolve(decls: Mapping[str, SettingDecl], given: dict[str, Any], environ: Mapping[str, str]) -> Settings:
    values: dict[str, Any] = {}
    secrets: list[str] = []
    for name, decl in decls.items():
        raw = given.get(name)
        raw = from_environment(raw, name, environ)
        if raw is None or (raw == "" and decl.has_default):
            if decl.required and not decl.has_default:
                raise SettingsError("is required but was not given", name)
            raw = decl.default
        value = convert(decl, raw)
        if decl.enum is not None and value is not None and value not in decl.enum:
            allowed = ", ".join(_text(v) for v in decl.enum)
            raise SettingsError(f"{_text(value) if not decl.secret else '***'} is not one of: {allowed}", name)
        values[name] = value
        if decl.secret and value not in (None, ""):
            secrets.append(_text(value))
    return Settings(values, tuple(secrets))


def from_environment(raw: Any, name: str, environ: Mapping[str, str] | None = None) -> Any:
    """A value written `env:VAR` read from the environment (unset: an error); others as given."""
    if isinstance(raw, str) and raw.startswith("env:"):
        environ = os.environ if environ is None else environ
        var = raw[4:]
        if var not in environ:
            raise SettingsError(f"environment variable {var} is not set", name)
        return environ[var]
    return raw


def read_settings_file(path: str | Path) -> dict[str, Any]:
    """A settings file: YAML or JSON `{Name: value}`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc.strerror}") from None
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    else:
        from .errors import SpecError
        from .load import load_text  # YAML with positions, same error style as specs
        try:
            data = load_text(text, str(path)).data
        except SpecError as exc:
            raise SettingsError(exc.render()) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: a settings file must be a mapping of Name: value")
    return data
