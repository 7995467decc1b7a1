"""FlashAttention-3's pipelining ablation against the model (`cascade validate-gpu` prints it).

The FA3 paper (Shah et al. 2024, Table 2) times one forward problem with its pipelining switched off piece by
piece. `data/fa3_pipelining_ablation.yaml` lists the rows: the paper's time and the `fa3` mapping keys that
row switches (the same replacement `cascade simulate --set mapping.KEY=VALUE` makes). `pipelining_ablation`
simulates every row with the stored calibration and reports the model's time, its error against the
paper's, and whether it is within the file's target.
"""

from __future__ import annotations

from pathlib import Path

from arch_models.gpu import load_gpu
from einsum_cascade.yaml_source import load_yaml, read_text
from mappers.gpu_kernels import load_gpu_mapping
from simulator.gpu.attention import AttentionProblem
from simulator.gpu.simulate import simulate_attention

ABLATION_FILE = Path(__file__).parent / "data" / "fa3_pipelining_ablation.yaml"


def pipelining_ablation(path: str | Path = ABLATION_FILE, efficiency: dict[str, float] | None = None) -> dict:
    """{source, gpu, mapping, problem, target_pct, rows: [{name, mapping_overrides, measured_ms, predicted_ms,
    error_pct, met}], met}: each row of the ablation file simulated."""
    data = load_yaml(read_text(path), str(path)).data
    gpu = load_gpu(data["gpu"])
    problem = AttentionProblem(**data["problem"])
    target = float(data["target_pct"])
    rows = []
    for row in data["rows"]:
        overrides = dict(row["mapping_overrides"])
        mapping = load_gpu_mapping(data["mapping"], overrides)
        predicted = simulate_attention(mapping, gpu, problem, efficiency).time_s * 1e3
        error = 100.0 * (predicted / row["measured_ms"] - 1.0)
        rows.append({"name": row["name"], "mapping_overrides": overrides, "measured_ms": row["measured_ms"],
                     "predicted_ms": predicted, "error_pct": error, "met": abs(error) <= target})
    return {"source": data["source"], "gpu": gpu.name, "mapping": data["mapping"], "problem": data["problem"],
            "target_pct": target, "rows": rows, "met": all(r["met"] for r in rows)}
