"""A mask that declares no density is priced as dense by the cost models; `map` and `simulate` say so (issue 16
item 2: no silent dense pricing), and a mask with a declared density gets no such note."""

from __future__ import annotations

import json
from pathlib import Path

from spec_errors import run_cli

from einsum_cascade.library import library_cascade


def test_map_says_a_mask_without_a_density_is_priced_as_dense(tmp_path, capsys):
    text = Path(library_cascade("fusemax-causal").source).read_text()
    undeclared = tmp_path / "causal-no-density.yaml"
    undeclared.write_text(text.replace(', density: "(P+1)/(2*P)"', ""))
    argv = ["map", "--arch", "fusemax", "--workload", "bert", "--seq", "1K", "--budget", "300", "--no-cache",
            "--json", "--cascade"]
    status, out, err, _ = run_cli([*argv, str(undeclared)], capsys)
    assert status == 0, err
    assert json.loads(out)["note"].startswith("mask causal declares no density: priced as dense")
    status, out, err, _ = run_cli([*argv, "fusemax-causal"], capsys)
    assert status == 0 and "note" not in json.loads(out)
