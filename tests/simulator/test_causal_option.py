"""`--causal` (prefill attention) on simulate, compare and sweeps: a spatial design runs the library's causal
form of its cascade with its own mapping, a GPU kernel masks causally; the work scales with the pairs a query
sees, (P + 1) / (2P) of them."""

from __future__ import annotations

import json

import pytest

from einsum_cascade.errors import SpecError
from einsum_cascade.library import causal_form, library_cascade
from simulator.cli.main import main
from simulator.studies.point import run_point
from simulator.studies.sweeps.runner import run_sweep
from simulator.studies.sweeps.spec import parse_sweep

P = 4096


def test_the_causal_form_has_the_same_einsums_under_a_mask():
    assert causal_form(library_cascade("fusemax")).name == "fusemax-causal"
    assert causal_form(library_cascade("softmax-3pass")).name == "softmax-3pass-causal"
    with pytest.raises(SpecError, match="sigmoid-bias has no causal form in the library"):
        causal_form(library_cascade("sigmoid-bias"))
    # the library's causal linear attention is the quadratic form, not the key-summary Einsums of linear-attention
    with pytest.raises(SpecError, match="linear-attention-causal does not have linear-attention's Einsums"):
        causal_form(library_cascade("linear-attention"))


def test_flat_does_the_causal_fraction_of_its_work():
    full, causal = (run_point("flat", "flat", "bert", P, causal=c) for c in (False, True))
    assert causal.cascade == "softmax-3pass-causal"
    # FLAT is bound by its softmax on the 1D array, one score per lane per pass: the causal mask keeps (P+1)/(2P)
    assert causal.latency_s / full.latency_s == pytest.approx((P + 1) / (2 * P), rel=0.01)


def test_a_gpu_kernel_masks_causally():
    full, causal = (run_point("h100", "fa2", "llama3-8b", 8192, causal=c) for c in (False, True))
    assert causal.latency_s < 0.75 * full.latency_s  # about half the tiles; the diagonal ones are partial
    assert causal.extra.flops == pytest.approx(full.extra.flops / 2)  # FLOPs halved for causal (REFERENCE.md §2)


def test_the_command_line_and_sweeps_take_it(tmp_path, capsys):
    assert main(["compare", "--designs", "flat,fusemax", "--workloads", "bert", "--seq", "1K", "--causal",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["causal"] and {p["cascade"] for p in result["points"]} == {"softmax-3pass-causal", "fusemax-causal"}
    assert main(["simulate", "--arch", "fusemax", "--cascade", "fusemax", "--shape", "M=1K,P=1K,E=64,F=64",
                 "--causal"]) == 2
    assert "--causal does not go with --cascade" in capsys.readouterr().err
    run_sweep(parse_sweep("version: 1\nname: c\nbase: {design: flat, workload: bert, seq_len: 4K, scope: attention}\n"
                          "axes: {causal: [false, true]}\n"), tmp_path / "s", progress=False)
    rows = (tmp_path / "s" / "results.csv").read_text().splitlines()[1:]
    assert len(rows) == 2 and "softmax-3pass-causal" in rows[1] and "softmax-3pass-causal" not in rows[0]
    with pytest.raises(SpecError, match="'yes' must be true or false"):
        parse_sweep("version: 1\nname: c\nbase: {design: flat, workload: bert, seq_len: 4K, causal: 'yes'}\n")
