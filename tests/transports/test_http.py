"""HttpClientTransport against a real HTTP server on loopback: bodies, URLs, auth, TLS."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from transport_helpers import API_KEY, CLIENT_KEY, CLIENT_SECRET, DictTokenStore, fast_retry

from engine.errors import AuthError, ConnectError, TransportError
from simulators.servers import http_server
from transports import open_http
from transports.base import (
    BearerTokenAuth,
    HeaderAuth,
    HttpConfig,
    HttpRequest,
    OAuth2RefreshAuth,
    QueryAuth,
    SignatureAuth,
)

Answer = tuple[int, Mapping[str, str], Any]


def echo(method: str, path: str, headers: Mapping[str, str], body: bytes) -> Answer:
    return 200, {}, {"method": method, "path": path, "type": headers.get("content-type"),
                     "body": body.decode(), "headers": dict(headers)}


# --- bodies and URLs ---------------------------------------------------------------------------

@pytest.mark.parametrize(("request_kwargs", "content_type", "body"), [
    ({"json": {"Name": "Ab & Co", "n": 1}}, "application/json", '{"Name":"Ab & Co","n":1}'),
    ({"form": {"name": "Ab & Co", "city": "Delft"}}, "application/x-www-form-urlencoded",
     "name=Ab+%26+Co&city=Delft"),
    ({"content": b"<x>1</x>", "headers": {"Content-Type": "application/xml"}}, "application/xml", "<x>1</x>"),
])
def test_each_body_kind_arrives_as_sent(request_kwargs: dict[str, Any], content_type: str, body: str) -> None:
    with http_server(echo) as server, open_http(HttpConfig(server.url)) as_transport:  # noqa: E999
        pass
