"""A sweep's derived values are evaluated without `eval`, with bounds: a division by zero, a power beyond
2 ** 1024 (9 ** 9 ** 9 would never return) or a complex result is a one-line error naming the file, the line
and the key."""

from __future__ import annotations

import pytest

from einsum_cascade.errors import SpecError
from simulator.studies.sweeps.spec import arithmetic, parse_sweep

SPEC = """version: 1
name: d
base: {{arch: fusemax, workload: bert, seq_len: 1K, mapping: fusemax}}
axes: {{arch.pe_dim: [16, 32]}}
derived: {{arch.lanes: "{expression}"}}
"""


@pytest.mark.parametrize(("expression", "why"), [("pe_dim / 0", "division by zero"),
                                                 ("2 ** 2000", "larger than 2 ** 1024"),
                                                 ("9 ** 9 ** 9", "larger than 2 ** 1024"),
                                                 ("(0 - 8) ** 0.5", "not a real number")])
def test_sweep_arithmetic_is_bounded(expression, why):
    with pytest.raises(SpecError) as error:
        parse_sweep(SPEC.format(expression=expression), "sweep.yaml")
    message = str(error.value)
    assert message.startswith("sweep.yaml:5: derived.arch.lanes:") and why in message and "\n" not in message


def test_sweep_arithmetic_computes_what_it_says():
    assert arithmetic("pe_dim * 2 + 1", {"pe_dim": 16}) == 33
    assert arithmetic("2 ** 10 // 3", {}) == 341 and arithmetic("7 / 2", {}) == 3.5
    assert [p.values["arch.lanes"] for p in parse_sweep(SPEC.format(expression="pe_dim * 2"), "s").points] == [32, 64]
