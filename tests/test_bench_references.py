"""The benchmark's hand-written references must produce what the compiled plans produce.

bench/mapping.py asserts it for every record before timing; this runs the same comparison on a
few hundred varied customers, so a spec change that the references do not follow fails here,
not first in `make bench`. No time is measured or asserted."""

from __future__ import annotations

import pytest

from bench import mapping


@pytest.mark.parametrize("run", [mapping.bench_specter, mapping.bench_accountview])
def test_compiled_plan_and_hand_written_reference_agree(run: object) -> None:
    result = run(300)  # type: ignore[operator]
    assert result["records"] == 300 and result["compiled_s"] > 0 and result["by_hand_s"] > 0
