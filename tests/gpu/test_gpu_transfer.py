"""`validate-gpu --calibrate-on`: the efficiencies refitted on some GPUs' rows only, the other GPUs' rows scored."""

from __future__ import annotations

import json

import pytest

from simulator.cli import validate_gpu
from simulator.studies.gpu_validation.measurements import read_measurements, write_measurements

SHIPPED = read_measurements()


def pick(gpu: str, kernel: str, passes: str, headdim: int, seqlen: int) -> dict:
    return next(m.row() for m in SHIPPED if m.gpu.startswith(gpu) and m.kernel == kernel and m.passes == passes
                and m.headdim == headdim and m.seqlen_kv == seqlen and not m.causal)


# Per calibration.yaml's subsets: on the A100 (no forward-only rows) mma is fitted on the FA2 forward+backward rows
# with at least 8192 keys, memory on the PyTorch-std forward+backward rows with at least 4096; wgmma has no rows.
A100_ROWS = [pick("A100", "FA2", "fwd+bwd", 64, 8192), pick("A100", "FA2", "fwd+bwd", 64, 16384),
             pick("A100", "PyTorch-std", "fwd+bwd", 64, 4096), pick("A100", "FA2", "fwd+bwd", 64, 2048)]
# On the H100 the forward rows come first in the preference: FA2 forward (2 rows), not its forward+backward row.
H100_ROWS = [pick("H100", "FA2", "fwd", 64, 8192), pick("H100", "FA2", "fwd", 64, 16384),
             pick("H100", "FA2", "fwd+bwd", 64, 8192), pick("H100", "FA3", "fwd", 128, 16384)]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("transfer") / "rows.csv"
    write_measurements(path, A100_ROWS + H100_ROWS)
    return path


RUNS: dict[tuple[str, str], dict] = {}  # each refit is run once per module (~20 s each on 2 cores)


def transfer(run_command, path, gpus: str) -> dict:
    if (str(path), gpus) not in RUNS:
        status, out, err = run_command(validate_gpu, "validate-gpu", "--data", str(path), "--calibrate-on", gpus,
                                       "--json")
        assert status == 0, err
        RUNS[str(path), gpus] = json.loads(out)["summary"]["transfer"]
    return RUNS[str(path), gpus]


def test_calibrated_on_the_a100_scores_the_h100_rows(data, run_command):
    result = transfer(run_command, data, "a100")  # an alias of a100-sxm4-80gb
    assert result["calibrated_on"] == ["a100-sxm4-80gb"] and result["scored_on"] == ["h100-sxm5-80gb"]
    families = result["families"]
    assert (families["mma"]["pass"], families["mma"]["rows"]) == ("fwd+bwd", 2)
    assert (families["memory"]["pass"], families["memory"]["rows"]) == ("fwd+bwd", 1)
    assert not families["wgmma"]["fitted"] and result["efficiency"]["wgmma"] == 1.0  # datasheet rate, no factor
    assert result["overall"]["rows"] == len(H100_ROWS) and set(result["by_pass"]) == {"fwd", "fwd+bwd"}
    assert result["target"] == {"mape_pct": 15.0}


def test_the_scored_rows_do_not_enter_the_fit(data, run_command, tmp_path):
    """Doubling every A100 value leaves the H100 fit alone and moves each A100 error from e to (e - 100) / 2
    (predicted p against 2v: 100 (p - 2v) / 2v = (100 (p - v) / v - 100) / 2). (Calibrated on the H100, whose
    fit is the quicker of the two.)"""
    before = transfer(run_command, data, "H100")
    doubled = tmp_path / "doubled.csv"
    write_measurements(doubled, [{**row, "value": 2 * row["value"]} for row in A100_ROWS] + H100_ROWS)
    after = transfer(run_command, doubled, "h100-sxm5-80gb")
    assert after["efficiency"] == before["efficiency"]
    assert after["overall"]["mean_error_pct"] == pytest.approx((before["overall"]["mean_error_pct"] - 100) / 2)


def test_calibrated_on_the_h100_prefers_its_forward_rows(data, run_command):
    result = transfer(run_command, data, "H100")
    families = result["families"]
    assert (families["mma"]["pass"], families["mma"]["rows"]) == ("fwd", 2)
    assert (families["wgmma"]["pass"], families["wgmma"]["rows"]) == ("fwd", 1)
    assert not families["memory"]["fitted"] and result["scored_on"] == ["a100-sxm4-80gb"]
    assert result["overall"]["rows"] == len(A100_ROWS)


def test_text_output_shows_the_transfer(data, run_command):
    status, out, _ = run_command(validate_gpu, "validate-gpu", "--data", str(data), "--calibrate-on", "H100")
    assert status == 0 and "transfer: calibrated on h100-sxm5-80gb, scored on a100-sxm4-80gb" in out
    assert "memory 1 (not fitted: no rows, datasheet rate)" in out and "transfer from h100-sxm5-80gb" in out


@pytest.mark.parametrize(("names", "words"), [
    ("H100X", "--calibrate-on: no GPU preset named 'H100X'"),
    ("a100,", "--calibrate-on: 'a100,' must be GPU names separated by commas"),
    ("H20", "--calibrate-on: no row of h20 is in any fit subset"),  # H20 is the h20 preset, which has no rows
    ("A100,H100", "--calibrate-on: every modelled row is on a100-sxm4-80gb, h100-sxm5-80gb"),
])
def test_bad_calibration_gpus_exit_2(data, run_command, names, words):
    status, _, err = run_command(validate_gpu, "validate-gpu", "--data", str(data), "--calibrate-on", names)
    assert status == 2 and words in err and err.count("\n") == 1
