"""`make bench`: every benchmark, one table. Figures, never assertions on time.

    python -m bench              # the full set (inbound up to 1,000,000 customers: several minutes)
    python -m bench --quick      # smaller sizes, for a first look
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .flows import bench_http_floor, bench_inbound, bench_inbound_floor, bench_load, bench_outbound
from .mapping import bench_accountview, bench_specter


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args()
    quick = args.quick
    rows: list[dict[str, Any]] = []
    console = Console()
    with console.status("mapping ..."):
        n = 20_000 if quick else 100_000
        rows += [bench_specter(n), bench_accountview(n)]
    with console.status("load times ..."):
        rows += bench_load()
    with console.status("outbound ..."):
        rows.append(bench_outbound(500 if quick else 2000, 0.05, 50))
        rows.append(bench_http_floor(500 if quick else 2000, 0.05, 50))
    with console.status("inbound ..."):
        rows += bench_inbound((20_000,) if quick else (100_000, 1_000_000))
        rows.append(bench_inbound_floor(20_000 if quick else 100_000))
    table = Table(title="specbridge benchmarks")
    for column in ("benchmark", "figures", "target"):
        table.add_column(column, overflow="fold")
    for row in rows:
        figures = ", ".join(f"{k}={v}" for k, v in row.items() if k not in ("benchmark", "target"))
        table.add_row(row["benchmark"], figures, row.get("target", ""))
    console.print(table)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
