"""Settings and rate limits per tenant: never in a task, always found where the worker runs.

    $SPECBRIDGE_SETTINGS_DIR/
      acme/
        erp-create-customer.yaml     settings of flow `erp-create-customer` for tenant acme
        _limits.yaml                 {connection: rate} for acme, over SPECBRIDGE_RATE_LIMITS
      globex/
        ...

A settings file is what `specbridge run --settings` takes ({Name: value}, YAML or JSON); a value
`env:VAR` is read from the worker's environment when the run starts, so secrets stay in the
environment (or whatever fills it: a secrets manager, a mounted file) and out of files and tasks.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from engine.errors import SettingsError
from engine.settings import read_settings_file

from .config import Config, parse_rate

TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
LIMITS_FILE = "_limits"


def check_tenant(tenant: str) -> str:
    """A tenant names a folder: letters, digits, `_`, `.`, `-`, so it cannot climb out of it."""
    if not isinstance(tenant, str) or not TENANT.match(tenant) or ".." in tenant:
        raise SettingsError(f"tenant {tenant!r}: use letters, digits, '_', '.' and '-' (at most 64)")
    return tenant


def _file(config: Config, tenant: str, name: str) -> Path | None:
    if config.settings_dir is None:
        return None
    folder = config.settings_dir / check_tenant(tenant)
    for suffix in (".yaml", ".yml", ".json"):
        path = folder / f"{name}{suffix}"
        if path.is_file():
            return path
    return None


def settings_for(config: Config, tenant: str, flow: str) -> tuple[dict[str, Any], str]:
    """The tenant's settings of a flow, unresolved (env:VAR stays), and where they came from."""
    check_tenant(tenant)
    path = _file(config, tenant, flow)
    if path is None:
        where = (f"{config.settings_dir / tenant / flow}.yaml (missing)" if config.settings_dir
                 else "nowhere: SPECBRIDGE_SETTINGS_DIR is not set")
        return {}, where
    return read_settings_file(path), str(path)


def limits_for(config: Config, tenant: str) -> dict[str, float]:
    """Requests per second per connection for this tenant: the global limits, then its own file."""
    limits = dict(config.rate_limits)
    path = _file(config, tenant, LIMITS_FILE)
    if path is not None:
        for name, rate in read_settings_file(path).items():
            limits[str(name)] = parse_rate(rate, f"{path}: {name}")
    return limits
