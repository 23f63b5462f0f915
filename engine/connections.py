"""Connections: compiled from the spec's `connections:`, opened per run with the run's settings.

Every connection value is a template over `settings` (so BaseUrl or FtpServerAddress can point
at a simulator); compiling checks the setting names, opening renders them into the frozen config
dataclasses of transports/base.py and hands those to the transport registry.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from transports import base

from .expressions import Template
from .settings import Settings

TemplateCompiler = Callable[[list[Any], Any], Template | None]

_BOOL_TEXT = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False,
              "off": False, "": False, "none": False}


@dataclass(frozen=True)
class ConnectionDecl:
    name: str
    kind: str                                   # http | files
    values: Mapping[str, Template]              # rendered with {settings}
    flags: Mapping[str, Any]                    # literal booleans/numbers, or templates
    headers: Mapping[str, Template] = field(default_factory=dict)
    auth_kind: str | None = None
    auth: Mapping[str, Any] = field(default_factory=dict)  # values: Template, or a dict of Templates
    retry: Mapping[str, Any] = field(default_factory=dict)
    notes: str | None = None


def compile_connection(name: str, raw: Mapping[str, Any], tpl: TemplateCompiler,
                       sign_tpl: TemplateCompiler) -> ConnectionDecl | None:
    text_keys = ("base_url", "ca_file") if raw["kind"] == "http" else (
        "url", "username", "password", "folder", "ca_file", "known_hosts")
    values = {k: t for k in text_keys if k in raw and (t := tpl([k], raw[k])) is not None}
    flags: dict[str, Any] = {}
    for key in ("active", "tls", "accept_unknown_host_key", "verify", "timeout"):
        if key in raw:
            flags[key] = tpl([key], raw[key]) if isinstance(raw[key], str) else raw[key]
    headers = {k: t for k, v in (raw.get("headers") or {}).items() if (t := tpl(["headers", k], v)) is not None}
    auth_raw = raw.get("auth") or {}
    auth: dict[str, Any] = {}
    for key, value in auth_raw.items():
        if key == "kind":
            continue
        if key == "template":
            auth[key] = sign_tpl(["auth", key], value)
        elif key == "body" and isinstance(value, dict):
            auth[key] = {k: tpl(["auth", "body", k], v) for k, v in value.items()}
        elif isinstance(value, str) and key not in ("name", "target", "body_format", "token_field", "expires_field"):
            auth[key] = tpl(["auth", key], value)
        else:
            auth[key] = value
    return ConnectionDecl(name, raw["kind"], values, flags, headers, auth_raw.get("kind"), auth,
                          dict(raw.get("retry") or {}), raw.get("notes"))


def _flag(value: Any, scope: Mapping[str, Any]) -> Any:
    if isinstance(value, Template):
        text = value.render(scope).strip()
        return _BOOL_TEXT.get(text.lower(), text)
    return value


def _render(value: Any, scope: Mapping[str, Any]) -> Any:
    if isinstance(value, Template):
        return value.render(scope)
    if isinstance(value, dict):
        return {k: _render(v, scope) for k, v in value.items()}
    return value


def build_config(decl: ConnectionDecl, settings: Settings, flow: str) -> Any:
    """The frozen transport config for this connection, rendered with the run's settings."""
    scope = {"settings": settings.values}
    text = {k: t.render(scope) for k, t in decl.values.items()}
    flags = {k: _flag(v, scope) for k, v in decl.flags.items()}
    secrets = settings.secrets
    if decl.kind == "files":
        return base.FileServerConfig(
            url=text.get("url", ""), username=text.get("username", ""), password=text.get("password", ""),
            folder=text.get("folder") or "/", active=bool(flags.get("active", False)),
            tls=bool(flags.get("tls", False)), ca_file=text.get("ca_file") or None,
            known_hosts=text.get("known_hosts") or None,
            accept_unknown_host_key=bool(flags.get("accept_unknown_host_key", False)),
            timeout=float(flags.get("timeout", 30.0)), secrets=secrets)
    retry = base.RetryPolicy(**{k: (tuple(v) if k == "on_status" else v) for k, v in decl.retry.items()})
    return base.HttpConfig(
        base_url=text.get("base_url", ""), headers={k: t.render(scope) for k, t in decl.headers.items()},
        auth=_auth(decl, scope, settings, flow), retry=retry, timeout=float(flags.get("timeout", 30.0)),
        verify=bool(flags.get("verify", True)), ca_file=text.get("ca_file") or None, secrets=secrets)


def _auth(decl: ConnectionDecl, scope: Mapping[str, Any], settings: Settings, flow: str) -> Any:
    kind, raw = decl.auth_kind, decl.auth
    if kind is None:
        return None
    if kind == "header":
        return base.HeaderAuth(raw["name"], _render(raw["value"], scope))
    if kind == "query":
        return base.QueryAuth(raw["name"], _render(raw["value"], scope))
    if kind == "bearer":
        return base.BearerTokenAuth(
            token_url=_render(raw["token_url"], scope), body=_render(raw["body"], scope),
            body_format=raw.get("body_format", "form"), token_field=raw.get("token_field", "access_token"),
            expires_field=raw.get("expires_field", "expires_in"), renew_before=float(raw.get("renew_before", 60)))
    if kind == "oauth2_refresh":
        token_key = _render(raw["token_key"], scope) if "token_key" in raw else f"{flow}:{decl.name}"
        return base.OAuth2RefreshAuth(
            token_url=_render(raw["token_url"], scope), client_id=_render(raw["client_id"], scope),
            client_secret=_render(raw["client_secret"], scope), refresh_token=_render(raw["refresh_token"], scope),
            token_key=token_key)
    if kind == "signature":
        template: Template = raw["template"]
        values = settings.values

        def sign(fields: Mapping[str, str]) -> str:
            return template.render({"fields": dict(fields), "settings": values}).strip()
        return base.SignatureAuth(name=raw["name"], sign=sign, target=raw.get("target", "form"))
    raise ValueError(f"unknown auth kind {kind}")


class Connections(Mapping[str, Any]):
    """The run's connections, each opened on first use and closed together at the end.

    Lazy, so a flow only connects to what it actually uses (an optional FTP server whose address
    is empty is never touched), and thread-safe, so records on a thread pool share one client.
    """

    def __init__(self, decls: Mapping[str, ConnectionDecl], settings: Settings, flow: str,
                 token_store: base.TokenStore | None) -> None:
        import threading
        self._decls, self._settings, self._flow, self._tokens = decls, settings, flow, token_store
        self._opened: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> Any:
        opened = self._opened.get(name)
        if opened is not None:  # no lock once open: every record asks, and a lock queues them
            return opened
        with self._lock:
            if name not in self._opened:
                import transports
                decl = self._decls[name]
                config = build_config(decl, self._settings, self._flow)
                self._opened[name] = (transports.open_files(config) if decl.kind == "files"
                                      else transports.open_http(config, token_store=self._tokens))
            return self._opened[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._decls)

    def __len__(self) -> int:
        return len(self._decls)

    def close(self) -> None:
        with self._lock:
            for transport in self._opened.values():
                # Closing must never hide the run's own outcome.
                with contextlib.suppress(Exception):
                    transport.close()
            self._opened.clear()
