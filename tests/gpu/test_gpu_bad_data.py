"""validate-gpu on measurement files it cannot use (issue 17): one line and exit 2, never an empty table with
exit 0, and never an attempt to model a problem that could not have run on the GPU."""

from __future__ import annotations

import pytest

from arch_models.gpu import load_gpu
from einsum_cascade.errors import SpecError
from simulator.cli.main import main
from simulator.gpu.attention import AttentionProblem
from simulator.gpu.simulate import check_fits_device
from simulator.studies.gpu_validation.measurements import DATA_FILE

HEADER = DATA_FILE.read_text().splitlines()[0]


def row(gpu="H100-SXM5-80GB", kernel="FA2", seqlen=512) -> str:
    return f"{gpu},{kernel},fwd,False,64,32,32,1,{seqlen},{seqlen},fp16,36.0,TFLOPs/s,x,y"


@pytest.mark.parametrize("lines, words", [
    ([], "no measurement rows (only a header)"),
    ([row(kernel="FA9")], "none of its 1 rows is modelled: no GPU mapping named 'FA9'"),
    ([row(gpu="GPU-9000")], "none of its 1 rows is modelled: no GPU preset named 'GPU-9000'"),
    ([row(seqlen=99999999999)], "row with batch 1, seqlen_q 99999999999, seqlen_kv 99999999999: batch 1, 32 "
                                "heads, 99999999999 queries x 99999999999 keys needs 1.638e+06 GB for Q, K, V and O; "
                                "h100-sxm5-80gb has 80 GB of HBM"),
])
def test_unusable_measurements_are_one_line(tmp_path, capsys, lines, words):
    data = tmp_path / "m.csv"
    data.write_text("\n".join([HEADER, *lines]) + "\n")
    assert main(["validate-gpu", "--data", str(data)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and words in error[0]


def test_the_device_memory_bound_is_q_k_v_and_o_in_16_bit():
    # forward, L queries and L keys: 32 heads x 2L x (64 + 64) x 2 B = 16,384 L bytes <= 80e9  <=>  L <= 4,882,812
    gpu = load_gpu("h100-sxm5-80gb")
    fits = AttentionProblem(1, 32, 32, 4_882_812, 4_882_812, 64, 64)
    check_fits_device(gpu, fits)
    with pytest.raises(SpecError, match="has 80 GB of HBM"):
        check_fits_device(gpu, AttentionProblem(1, 32, 32, 4_882_813, 4_882_813, 64, 64))
    with pytest.raises(SpecError, match="and their gradients"):  # backward keeps the gradients too: half the length
        check_fits_device(gpu, AttentionProblem(1, 32, 32, 2_441_407, 2_441_407, 64, 64, passes="fwd+bwd"))
