"""Speed as users feel it and as the kernels allow: wall time of fresh `cascade` processes after the install
step compiled the kernels (`user_commands`), candidate mappings per second of the Numba kernels on
one batch (the ceiling, `run_bench`), and the mapper inside `cascade map` (`mapper_bench`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from arch_models import load_arch
from einsum_cascade.library import library_cascade
from mappers.load import load_mapping
from simulator.spatial.batch import evaluate_group_batch, traffic
from simulator.spatial.lower import lower_group
from simulator.studies.compare import DEFAULT_SEQ_LENS, DEFAULT_WORKLOADS, compare

BERT_64K = {"B": 64, "H": 12, "M": 1 << 16, "P": 1 << 16, "E": 64, "F": 64}


def random_fusemax_tilings(count: int, seed: int = 0):
    """`count` distinct (tiling, shape) rows of the FuseMax group at BERT's 64K tokens: P0, P1, M0 (powers of
    two) with batch 1..64 and heads 1..16, drawn without replacement (the token count stays the lowering's: a
    row's tiles cover its ranks exactly, as in a search)."""
    cascade, arch, mapping = library_cascade("fusemax"), load_arch("fusemax"), load_mapping("fusemax")
    lowered = lower_group(cascade, arch, mapping, 0, BERT_64K, {"p1": 1})
    rng = np.random.default_rng(seed)
    choices = {"p0": 2 ** np.arange(4, 9), "p1": 2 ** np.arange(0, 7), "m0": 2 ** np.arange(6, 9),
               "b": np.arange(1, 65), "h": np.arange(1, 17)}
    grid = dict(zip(choices, (g.ravel() for g in np.meshgrid(*choices.values(), indexing="ij")), strict=True))
    everything = len(grid["p0"])  # every p0 x p1 (at most 256 x 64) divides 64K tokens
    picks = rng.choice(np.arange(everything), min(count, everything), replace=False)
    value = {name: values[picks] for name, values in grid.items()}
    extents = np.repeat(lowered.extents[None, :], len(picks), axis=0)
    column = {p: n for n, p in enumerate(lowered.parts)}
    for part in ("p0", "p1", "m0", "b", "h"):
        extents[:, column[part]] = value[part]
    extents[:, column["p2"]] = BERT_64K["P"] / (value["p0"] * value["p1"])
    extents[:, column["m1"]] = BERT_64K["M"] / value["m0"]
    return lowered, extents


def mapper_bench(full: bool = False) -> dict:
    """Candidates per second of the mapper on the GEMM space, and time to the best mapping for issue 4's cases
    (with `full`, the FuseMax cascade at all 24 points of the reproduction grid)."""
    from mappers.search import SearchSettings, search
    from mappers.space import SpatialMappingSpace
    from simulator.spatial.mapper_cost import SpatialCost
    from simulator.studies.spatial_search import search_mapping
    from workloads.zoo import attention_shapes, load_model

    arch = load_arch("fusemax")
    space = SpatialMappingSpace(library_cascade("gemm"), arch, {"M": 65536, "K": 768, "N": 768})
    cost = SpatialCost(space)
    search(space, cost, SearchSettings(strategy="exhaustive", seconds=None), progress=False)  # warm-up
    gemm = search(space, cost, SearchSettings(strategy="exhaustive", seconds=None), progress=False)
    results = {"mapper_gemm_space_candidates_per_s": gemm.candidates_per_s, "mapper_gemm_space_size": space.size}
    cases = [("fusemax", "fusemax", "bert", 65536), ("softmax-3pass", "flat", "bert", 65536),
             ("softmax-3pass", "fusemax", "bert", 65536)]
    if full:
        cases += [("fusemax", "fusemax", w, n) for w in DEFAULT_WORKLOADS for n in DEFAULT_SEQ_LENS]
    for cascade, arch_name, workload, seq in cases:
        found = search_mapping(library_cascade(cascade), load_arch(arch_name),
                               attention_shapes(load_model(workload), seq), "latency", SearchSettings(seconds=30),
                               progress=False, use_cache=False)
        key = f"map_{cascade}_on_{arch_name}_{workload}_{seq}"
        results[key + "_time_to_best_s"] = found["time_to_best_s"]
        results[key + "_latency_s"] = found["best"]["latency_s"]
        results[key + "_candidates_per_s"] = found["candidates_per_s"]
    for side in (32, 256):
        shapes = {"M": 1024, "K": 1024, "N": 1024}
        found = search_mapping(library_cascade("gemm"), arch.with_overrides(pe_dim=side), shapes, "latency",
                               SearchSettings(seconds=30), progress=False, use_cache=False)
        results[f"map_gemm1024_{side}x{side}_time_to_best_s"] = found["time_to_best_s"]
        results[f"map_gemm1024_{side}x{side}_gap_over_bound"] = found["explanation"]["gap_over_bound"]
    return results


def run_bench(batch: int = 100_000) -> dict:
    arch = load_arch("fusemax")
    lowered, extents = random_fusemax_tilings(batch)
    batch = len(extents)
    evaluate_group_batch(lowered, arch, extents[:10])  # JIT warm-up (cached on disk after the first run)
    start = time.perf_counter()
    traffic(lowered, extents)
    traffic_s = time.perf_counter() - start
    start = time.perf_counter()
    evaluated = evaluate_group_batch(lowered, arch, extents)
    full_s = time.perf_counter() - start
    compare(["unfused", "flat", "fusemax"], ["bert"], [1024], "flat", progress=False)  # warm-up
    start = time.perf_counter()
    compare(["unfused", "flat", "fusemax"], DEFAULT_WORKLOADS, DEFAULT_SEQ_LENS, "flat", progress=False)
    comparison_s = time.perf_counter() - start
    return {
        "batch": batch,
        "traffic_kernel_mappings_per_s": batch / traffic_s,
        "cost_model_mappings_per_s": batch / full_s,  # traffic, capacity, spill, schedule and energy
        "cost_model_batch_feasible": int(evaluated.feasible.sum()),
        "comparison_4x6x3_wall_s": comparison_s,
    }


USER_COMMANDS = {  # what a user types; each is timed in a fresh process
    "simulate": ["simulate", "--arch", "fusemax", "--mapping", "fusemax", "--workload", "bert", "--seq", "64K"],
    "compare_4x6x5": ["compare", "--designs", "unfused,flat,fusemax-cascade-on-flat-hw,fusemax-no-binding,fusemax",
                      "--json"],
    "map_gemm_4096x768x768": ["map", "--arch", "fusemax", "--cascade", "gemm", "--shape", "M=4096,K=768,N=768",
                              "--no-cache", "--json"],
    # 5040 = 2^4 3^2 5 7 has 60 divisors: tiles of every divisor up to the array and buffer loops of every divisor of
    # the tiles left make a GEMM space of 4.26e6 candidates past the cheap pruning, 2.42e6 of them legal
    "map_gemm_5040x768x5040_exhaustive": ["map", "--arch", "fusemax", "--cascade", "gemm", "--shape",
                                          "M=5040,K=768,N=5040", "--strategy", "exhaustive", "--no-cache", "--json"],
    "map_fusemax_bert_64k_exhaustive": ["map", "--arch", "fusemax", "--cascade", "fusemax", "--workload", "bert",
                                        "--seq", "64K", "--strategy", "exhaustive", "--no-cache", "--json"],
    # 1500 tokens: tiles of 250 and padded ones of 256 make a space of 5.23e6 genomes (after merging structures),
    # 2.69e6 of them legal
    "map_fusemax_bert_1500_exhaustive": ["map", "--arch", "fusemax", "--cascade", "fusemax", "--workload", "bert",
                                         "--seq", "1500", "--strategy", "exhaustive", "--no-cache", "--json"],
    # the same space searched at random (4e6 distinct candidates, 2.06e6 of them legal) and by the evolutionary
    # search (1e6 distinct candidates), the strategies `auto` falls back on when a space is too large to enumerate
    "map_fusemax_bert_1500_random": ["map", "--arch", "fusemax", "--cascade", "fusemax", "--workload", "bert",
                                     "--seq", "1500", "--strategy", "random", "--budget", "4000000", "--no-cache",
                                     "--json"],
    "map_fusemax_bert_1500_evolution": ["map", "--arch", "fusemax", "--cascade", "fusemax", "--workload", "bert",
                                        "--seq", "1500", "--strategy", "evolution", "--budget", "1000000",
                                        "--no-cache", "--json"],
    "reproduce_fusemax": ["reproduce", "fusemax", "-o", "{tmp}/reproduce", "--json"],
}


def user_commands(names=tuple(USER_COMMANDS), warm_runs: int = 3) -> dict:
    """Wall seconds of each command in a fresh process, as a user meets them. The kernels are first compiled
    into an empty Numba cache by what the install step runs (`install_compile_s`); then each command's
    `first` run is the first command after installing (on its own copy of that cache, so that no command
    benefits from what another compiled), and `warm` the median of `warm_runs` more. The map commands also
    report their own figures (candidates/s with the kernel load inside the timer)."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="cascade-bench-") as tmp:
        installed = {**os.environ, "NUMBA_CACHE_DIR": f"{tmp}/numba", "CASCADE_CACHE": f"{tmp}/mapper"}
        if names:
            start = time.perf_counter()
            _run([sys.executable, "-m", "simulator.cli.warm_kernels"], installed)
            results["install_compile_s"] = time.perf_counter() - start
        env = installed
        for name in names:
            env = {**installed, "NUMBA_CACHE_DIR": f"{tmp}/numba-{name}"}
            shutil.copytree(installed["NUMBA_CACHE_DIR"], env["NUMBA_CACHE_DIR"])
            argv = [a.format(tmp=tmp) for a in USER_COMMANDS[name]]
            times, out = [], ""
            for _ in range(1 + warm_runs):
                start = time.perf_counter()
                out = _run([sys.executable, "-m", "simulator.cli.main", *argv], env)
                times.append(time.perf_counter() - start)
            results[f"{name}_first_s"] = times[0]
            results[f"{name}_warm_s"] = float(np.median(times[1:]))
            if name.startswith("map_"):
                found = json.loads(out)  # one cascade: the search's summary itself
                for key in ("candidates_per_s", "evaluated", "legal", "pruned", "duplicates", "seconds"):
                    results[f"{name}_{key}"] = found[key]
        if names:
            results["kernel_load_s"] = float(np.median([json.loads(_run([sys.executable, "-c", KERNEL_LOAD], env))
                                                        for _ in range(3)]))
    return results


# In a fresh process whose kernels are compiled on disk: the first batch of the spatial model (traffic, costs and
# schedule kernels loaded from Numba's cache) less a second one (the work itself).
KERNEL_LOAD = """
import json, time
from arch_models import load_arch
from simulator.spatial.batch import evaluate_group_batch
from simulator.studies.bench import random_fusemax_tilings
lowered, extents = random_fusemax_tilings(10)
arch = load_arch("fusemax")
times = []
for _ in range(2):
    start = time.perf_counter()
    evaluate_group_batch(lowered, arch, extents)
    times.append(time.perf_counter() - start)
print(json.dumps(times[0] - times[1]))
"""


def _run(argv: list[str], env: dict) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()[-300:]}")
    return done.stdout


def scale_out_bench() -> dict:
    """Points per second of the 10,080-point scale-out sweep (workloads/sweeps/scale-out.yaml) with two worker
    processes and on a dask LocalCluster of two workers, and whether both wrote the same rows."""
    from distributed import LocalCluster

    from simulator.studies.plots.rows import read_rows
    from simulator.studies.sweeps.runner import run_sweep
    from simulator.studies.sweeps.spec import SHIPPED, load_sweep

    spec = load_sweep(str(SHIPPED / "scale-out.yaml"))
    results = {"scale_out_points": len(spec.points)}
    with tempfile.TemporaryDirectory(prefix="cascade-scale-out-") as tmp:
        start = time.perf_counter()
        run_sweep(spec, f"{tmp}/jobs", jobs=2, progress=False)
        results["scale_out_jobs2_points_per_s"] = len(spec.points) / (time.perf_counter() - start)
        with LocalCluster(n_workers=2, threads_per_worker=1) as cluster:
            start = time.perf_counter()
            run_sweep(spec, f"{tmp}/dask", scheduler=cluster.scheduler_address, progress=False)
            results["scale_out_dask2_points_per_s"] = len(spec.points) / (time.perf_counter() - start)
        results["scale_out_same_rows"] = read_rows(f"{tmp}/jobs") == read_rows(f"{tmp}/dask")
    return results
