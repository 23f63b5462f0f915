"""Polling helper for the scale tests, in a module of its own: test modules import it by this
unique name (importing from `conftest` would pick whichever conftest.py pytest loaded first)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_until(check: Callable[[], Any], timeout: float, what: str, poll: float = 0.2,
               explain: Callable[[], str] | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}"
                                 + (f"\n{explain()}" if explain else ""))
        time.sleep(poll)

