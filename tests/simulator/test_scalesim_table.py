"""Cascade's SCALE-Sim-compatible systolic timing against SCALE-Sim's own numbers, row by row.

`data/scalesim_cycles.csv` was made by `data/make_scalesim_table.py`, which runs SCALE-Sim (scalesim
3.0.0, in a throwaway environment: SCALE-Sim is not a dependency and is not imported here) on 36 GEMM
shapes x 4 arrays x 3 dataflows. Every row must match exactly: 0 cycles of error.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from simulator.spatial.kernels.systolic import DATAFLOW_NAMES, SCALESIM, gemm_cycles_batch, scalesim_gemm_cycles

TABLE = Path(__file__).parent / "data" / "scalesim_cycles.csv"
COLUMNS = ["M", "N", "K", "rows", "cols", "dataflow", "cycles", "scalesim_version"]


def _rows() -> list[dict]:
    with TABLE.open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == COLUMNS
        return [{k: (v if k in ("dataflow", "scalesim_version") else int(v)) for k, v in row.items()}
                for row in reader]


def test_every_row_matches_scalesim_exactly():
    rows = _rows()
    errors = [(row, int(scalesim_gemm_cycles(row["M"], row["N"], row["K"], row["rows"], row["cols"],
                                             DATAFLOW_NAMES.index(row["dataflow"]))) - row["cycles"])
              for row in rows]
    assert [e for e in errors if e[1] != 0] == []


def test_batch_kernel_matches_the_table_too():
    rows = _rows()
    for (r, c) in {(row["rows"], row["cols"]) for row in rows}:
        for code, name in enumerate(DATAFLOW_NAMES):
            chosen = [row for row in rows if (row["rows"], row["cols"], row["dataflow"]) == (r, c, name)]
            m, n, k = (np.array([row[key] for row in chosen]) for key in ("M", "N", "K"))
            np.testing.assert_array_equal(gemm_cycles_batch(m, n, k, r, c, code, SCALESIM),
                                          [row["cycles"] for row in chosen])


def test_the_table_covers_what_the_issue_asks():
    rows = _rows()
    shapes = {(row["M"], row["N"], row["K"]) for row in rows}
    arrays = {(row["rows"], row["cols"]) for row in rows}
    assert len(shapes) >= 30 and len(arrays) >= 3 and {row["dataflow"] for row in rows} == set(DATAFLOW_NAMES)
    assert len(rows) == len(shapes) * len(arrays) * 3  # the full product, no row missing
    assert any(r != c for r, c in arrays)  # a non-square array
    ragged = [s for s in shapes if all(any(d % side for d in s) for side in {x for a in arrays for x in a})]
    assert ragged  # shapes that no array side divides
    assert {row["scalesim_version"] for row in rows} == {"3.0.0"}


def test_hand_counts_of_the_rule():
    # SCALE-Sim 3.0.0 printed 63, 33 and 179 for these three GEMMs on a 4 x 6 array
    # os on 4 x 6: M=8 -> 2 row folds, N=8 -> 2 column folds, each padded fold 4 + 6 + K - 2; minus 1
    assert scalesim_gemm_cycles(8, 8, 8, 4, 6, 0) == 4 * (4 + 6 + 8 - 2) - 1
    # ws on 4 x 6: Sr=K=3 -> 1 fold, Sc=N=7 -> 2 folds, T=M=5: 2 * (2*4 + 6 + 5 - 2) - 1
    assert scalesim_gemm_cycles(5, 7, 3, 4, 6, 1) == 2 * (2 * 4 + 6 + 5 - 2) - 1
    # is on 4 x 6: Sr=K=11 -> 3 folds, Sc=M=20 -> 4 folds, T=N=3
    assert scalesim_gemm_cycles(20, 3, 11, 4, 6, 2) == 12 * (2 * 4 + 6 + 3 - 2) - 1
    assert scalesim_gemm_cycles(0, 3, 11, 4, 6, 2) == 0
