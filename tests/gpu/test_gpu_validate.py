"""`cascade validate-gpu`: JSON shape, the accuracy targets, the decode story, the parity plot, the fit and which
rows it used, the names each row resolved to, and backward-only rows."""

from __future__ import annotations

import json
import math

import pytest

from simulator.cli import validate_gpu
from simulator.gpu.simulate import default_efficiency
from simulator.studies.gpu_validation.calibration import calibrated_on, fit_plan, log_error
from simulator.studies.gpu_validation.measurements import DATA_FILE, read_measurements, write_measurements

# The forward rows the model misses by more than 25%: the Triton tutorial kernel, causal, at 512 tokens, at both
# head dims (predicted about 30% fast). Measured, each causal run takes longer than the non-causal run of the same
# shape (34.36 GFLOP / 152 TFLOP/s = 226 us against 68.72 / 340 = 202 us at d = 64; 235 against 213 us at
# d = 128), though the kernel skips the tiles above the diagonal; every other tile-skipping kernel's causal run
# takes 0.74-0.85 of its non-causal time at 512 tokens, and Triton's own 0.66-0.68 at 1K. Nothing in the
# kernel's structure that the model knows explains it (see the issue-5 note).
KNOWN_OUTLIERS = {("Triton-FA2(H100 instrs)", 64, True, 512), ("Triton-FA2(H100 instrs)", 128, True, 512)}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    plot = tmp_path_factory.mktemp("plots") / "parity"
    from simulator.studies.gpu_validation.validate import validate

    data = validate(read_measurements(DATA_FILE))
    from simulator.studies.plots.gpu_parity import plot_parity

    data["figures"] = [str(p) for p in plot_parity(data, plot)]
    return data


def test_json_shape(result):
    assert {"rows", "summary", "targets", "decode_analysis", "efficiency", "fit_subsets"} <= set(result)
    modelled = [r for r in result["rows"] if r["modelled"]]
    # 273 rows in the CSV; FA1 (36 rows), FA-Triton(2022) (18) and xformers-cutlass (18) have no mapping
    assert len(result["rows"]) == 273 and len(modelled) == 273 - 36 - 18 - 18
    for row in modelled:
        assert {"measured", "predicted", "error_pct", "gpu", "kernel", "pass", "fitted"} <= set(row)
        assert row["error_pct"] == pytest.approx(100 * (row["predicted"] - row["measured"]) / row["measured"])
    summary = result["summary"]
    for group in ("by_gpu", "by_kernel", "by_pass"):
        for stats in summary[group].values():
            assert {"mape_pct", "max_abs_error_pct", "rows"} <= set(stats)
    assert {"mape_pct", "max_abs_error_pct"} <= set(summary["overall"])
    # the shipped rows the fit did not use are the development set; none is held out
    assert summary["development"]["rows"] == 201 - 12 and summary["held_out"]["rows"] == 0
    json.dumps(result)


def test_targets(result):
    forward = [r for r in result["rows"] if r["modelled"] and r["pass"] == "fwd"]
    assert len(forward) == 116
    targets = result["targets"]
    # the product's targets; decode (A100 rows) is not met: docs/gpu-sources.md says why
    assert targets["fwd"]["met"] and targets["fwd"]["mape_pct"] <= 8.0 and targets["fwd"]["max_abs_error_pct"] <= 30
    assert targets["fwd+bwd"]["met"] and targets["fwd+bwd"]["mape_pct"] <= 12.0
    assert targets["decode"]["target"] == {"mape_pct": 12.0} and targets["decode"]["rows"] == 20
    misses = {(r["kernel"], r["headdim"], r["causal"], r["seqlen_kv"]) for r in forward if abs(r["error_pct"]) > 25}
    assert misses <= KNOWN_OUTLIERS
    assert result["summary"]["fitted"]["rows"] == 12  # the documented calibration subset


def test_worst_forward_error_leaves_out_only_the_named_outliers(result):
    # the Triton kernel's causal forward rows: 6 lengths x 2 head dims in the CSV (FA3 paper Fig. 5)
    forward = [r for r in result["rows"] if r["modelled"] and r["pass"] == "fwd"]
    named = [r for r in forward if r["kernel"] == "Triton-FA2(H100 instrs)" and r["causal"]]
    others = [abs(r["error_pct"]) for r in forward if not any(r is n for n in named)]
    target = result["targets"]["fwd"]
    assert len(named) == 12 == target["outliers"]["rows"]
    assert target["max_abs_error_pct"] == pytest.approx(max(others))
    assert target["outliers"]["max_abs_error_pct"] == pytest.approx(max(abs(r["error_pct"]) for r in named))


def test_decode_shows_why_split_kv_wins(result):
    by_length = sorted(result["decode_analysis"], key=lambda d: d["seqlen_kv"])
    short, longest = by_length[0], by_length[-1]
    assert longest["fa2"]["sm_fraction_busy"] < 0.2 and longest["split_kv"]["sm_fraction_busy"] > 0.8
    # with few heads the split alone (no GQA packing) fills the SMs; with many heads there is nothing to split
    assert longest["speedup_without_gqa_packing"] > 4 > short["speedup_without_gqa_packing"]
    assert short["split_kv"]["splits"] == 1 and longest["split_kv"]["splits"] > 10


def test_parity_plot_written(result):
    assert sorted(p.rsplit(".", 1)[1] for p in result["figures"]) == ["pdf", "png"]


def test_calibration_is_the_minimum_on_its_subset():
    stored = default_efficiency()
    for family, entry in fit_plan(read_measurements(), calibrated_on()).items():
        subset = entry["rows"]
        assert subset, family
        here = log_error(subset, stored)
        for step in (-0.03, 0.03):
            assert here <= log_error(subset, {**stored, family: stored[family] + step}) + 1e-9, family
        assert math.isfinite(here)


def test_validate_reads_a_measure_gpu_csv(tmp_path, run_command):
    rows = [m.row() for m in read_measurements() if m.kernel == "FA3" and m.seqlen_kv == 4096]
    for row in rows:
        row["kernel"] = "sdpa-flash" if row["headdim"] == 64 else "FA3"
    rows.append({**rows[0], "gpu": "RTX-9999"})
    rows.append({**rows[0], "headdim": 512})  # sdpa-flash is the fa2 mapping: tiles up to head dim 256
    path = tmp_path / "mine.csv"
    write_measurements(path, rows)
    status, out, _ = run_command(validate_gpu, "validate-gpu", "--data", str(path), "--json")
    data = json.loads(out)
    reasons = data["summary"]["not_modelled"]["reasons"]
    assert status == 0 and data["summary"]["not_modelled"]["rows"] == 2 and len(reasons) == 2
    assert any("no GPU preset named 'RTX-9999'" in r for r in reasons)
    assert any("no tiles entry for head dim 512" in r for r in reasons)


def test_bad_data_file_exits_2(tmp_path, run_command):
    path = tmp_path / "bad.csv"
    path.write_text("gpu,kernel\nH100,FA2\n")
    status, _, err = run_command(validate_gpu, "validate-gpu", "--data", str(path))
    assert status == 2 and "missing column(s)" in err and err.count("\n") == 1
    status, _, err = run_command(validate_gpu, "validate-gpu", "--data", str(tmp_path / "nope.csv"))
    assert status == 2 and "file not found" in err
    good = [m.row() for m in read_measurements()][:1]
    for column, value, words in (("value", 0.0, "must be a positive number"), ("value", "nan", "positive number"),
                                 ("batch", 0, "must be at least 1"), ("pass", "backward", "is not one of"),
                                 ("dtype", "bogus", "is not one of"), ("nheads_kv", 3, "not a multiple of 3 K/V")):
        write_measurements(path, [{**good[0], column: value}])
        status, _, err = run_command(validate_gpu, "validate-gpu", "--data", str(path))
        assert status == 2 and f"bad.csv:2: {column}: " in err and words in err and err.count("\n") == 1


def test_text_output_has_the_kernel_head_dim_table(result):
    text = validate_gpu.format_validation({**result, "data": str(DATA_FILE)})
    assert "fwd / FA3 / 128" in text and "accuracy targets" in text and "split-KV" in text
    assert "issue" not in text and "development set (shipped, not fitted)" in text
    assert "transfer, each way" in text and "see --calibrate-on GPU" in text  # no transfer without the option


def test_causal_ratios_compare_the_masking_with_the_kernels(result):
    ratios = {(r["gpu"][:4], r["kernel"], r["pass"], r["headdim"], r["seqlen_kv"]): r
              for r in result["summary"]["causal_ratios"]}
    # from the CSV by hand: Triton at 512 tokens, d = 64: 0.5 x 340 / 152 (causal FLOPs are counted half)
    triton = ratios[("H100", "Triton-FA2(H100 instrs)", "fwd", 64, 512)]
    assert triton["measured"] == pytest.approx(0.5 * 340 / 152)
    # tile-skipping kernels approach half the time at long sequences; the unfused chain computes every score and
    # adds the mask on top, so its causal run is slower than its non-causal one
    assert 0.45 < ratios[("H100", "FA3", "fwd", 128, 16384)]["predicted"] < 0.6
    assert ratios[("H100", "PyTorch-std", "fwd", 64, 8192)]["predicted"] > 1.0
    text = validate_gpu.format_validation({**result, "data": str(DATA_FILE)})
    assert "causal time / non-causal time" in text and f"{triton['measured']:.2f} / {triton['predicted']:.2f}" in text
    assert triton["predicted"] < 1  # the model skips the tiles above the diagonal: causal runs take less time


def test_causal_ratios_use_each_rows_own_unit(tmp_path, run_command):
    # one shape timed in ms without a mask and in us with one, another in TFLOP/s (causal FLOPs count half):
    # 2 ms against 1200 us is 0.6; 100 TFLOP/s against 50 TFLOP/s causal is 0.5 x 100 / 50 = 1.0
    base = next(m.row() for m in read_measurements() if m.kernel == "FA2" and m.passes == "fwd")
    rows = [{**base, "causal": False, "batch": 1, "value": 2.0, "unit": "ms"},
            {**base, "causal": True, "batch": 1, "value": 1200.0, "unit": "us"},
            {**base, "causal": False, "batch": 2, "value": 100.0, "unit": "TFLOPs/s"},
            {**base, "causal": True, "batch": 2, "value": 50.0, "unit": "TFLOPs/s"},
            {**base, "causal": True, "batch": 3, "value": 50.0, "unit": "TFLOPs/s"}]  # no partner
    path = tmp_path / "units.csv"
    write_measurements(path, rows)
    status, out, _ = run_command(validate_gpu, "validate-gpu", "--data", str(path), "--json")
    ratios = {r["batch"]: r["measured"] for r in json.loads(out)["summary"]["causal_ratios"]}
    assert status == 0 and ratios == {1: pytest.approx(0.6), 2: pytest.approx(1.0)}
    write_measurements(path, rows + [rows[0]])  # a shape measured twice without a mask: ambiguous, left out
    status, out, _ = run_command(validate_gpu, "validate-gpu", "--data", str(path), "--json")
    assert status == 0 and [r["batch"] for r in json.loads(out)["summary"]["causal_ratios"]] == [2]
