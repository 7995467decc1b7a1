"""Sweeps: expansion, bad files, writing as points finish, resuming after a kill, and the dask path."""

import csv
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from einsum_cascade.errors import SpecError
from simulator.cli.main import main
from simulator.studies.sweeps.runner import run_sweep
from simulator.studies.sweeps.spec import parse_sweep

SMALL = """
version: 1
name: small
base: {workload: bert, scope: attention}
axes:
  design: [flat, fusemax]
  seq_len: [1K, 4K, 16K]
"""


def rows(directory: Path) -> list[dict]:
    with (directory / "results.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_product_expansion_and_zip_and_derived():
    spec = parse_sweep(SMALL)
    assert len(spec.points) == 6
    assert {(p.values["design"], p.values["seq_len"]) for p in spec.points} == {
        (d, n) for d in ("flat", "fusemax") for n in (1024, 4096, 16384)}
    zipped = parse_sweep("""
version: 1
name: z
base: {design: fusemax, workload: bert, seq_len: 1K}
axes: {arch.pe_dim: [16, 32], arch.lanes: [16, 32], seq_len: [1K, 2K]}
zip: [[arch.pe_dim, arch.lanes]]
derived: {arch.global_buffer_bytes: "256 * pe_dim * pe_dim"}
""")
    assert len(zipped.points) == 4  # 2 zipped pairs x 2 lengths
    for point in zipped.points:
        assert point.values["arch.lanes"] == point.values["arch.pe_dim"]
        assert point.values["arch.global_buffer_bytes"] == 256 * point.values["arch.pe_dim"] ** 2
    assert len({p.id for p in zipped.points}) == 4


def test_bad_sweep_reports_every_problem_with_key_path_and_allowed_values():
    text = """version: 1
name: bad
base: {design: fusemax, workload: gpt9}
axes:
  seq_len: [1K, lots]
  arch.pe_size: [16]
  colour: [red]
zip: [[seq_len, nothing]]
"""
    with pytest.raises(SpecError) as error:
        parse_sweep(text, "bad.yaml")
    message = str(error.value)
    assert "bad.yaml:3: base.workload: 'gpt9' is not one of bert" in message
    assert "axes.seq_len.1: 'lots' is not a sequence length" in message
    assert "unknown arch override 'pe_size'" in message and "pe_dim" in message
    assert "unknown point key 'colour'" in message
    assert "zipped axes nothing are not under axes" in message
    assert len(message.splitlines()) == 5


def test_bad_sweep_exits_2_and_writes_nothing(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\nname: x\naxes: {design: [nope]}\n")
    status = main(["sweep", str(path), "-o", str(tmp_path / "out")])
    assert status == 2 and "'nope' is not one of" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_rows_are_written_and_a_rerun_skips_them(tmp_path):
    spec = parse_sweep(SMALL)
    first = run_sweep(spec, tmp_path, progress=False)
    assert first["run"] == 6 and len(rows(tmp_path)) == 6
    second = run_sweep(spec, tmp_path, progress=False)
    assert second == {**second, "run": 0, "skipped": 6}
    assert len(rows(tmp_path)) == 6
    assert (tmp_path / "manifest.json").exists() and (tmp_path / "einsums.csv").exists()


def test_a_torn_last_line_is_cut_and_its_point_rerun(tmp_path):
    spec = parse_sweep(SMALL)
    run_sweep(spec, tmp_path, progress=False)
    results = tmp_path / "results.csv"
    text = results.read_text()
    results.write_text(text[: len(text) - 40])  # a kill in the middle of writing the last row
    summary = run_sweep(spec, tmp_path, progress=False)
    assert summary["run"] == 1
    ids = [r["point_id"] for r in rows(tmp_path)]
    assert sorted(ids) == sorted({p.id for p in spec.points})


def test_sigkill_then_rerun_leaves_every_point_exactly_once(tmp_path):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("""
version: 1
name: killed
base: {workload: bert, scope: end-to-end}
axes:
  design: [unfused, flat, fusemax, fusemax-no-binding]
  seq_len: [1K, 2K, 4K, 8K, 16K, 32K, 64K, 128K, 256K, 512K, 1M]
""")
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "simulator.cli.main", "sweep", str(sweep), "-o", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        if (out / "results.csv").exists() and len((out / "results.csv").read_text().splitlines()) > 6:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    written_before = len(rows(out))
    assert 0 < written_before < 44
    assert main(["sweep", str(sweep), "-o", str(out), "--json"]) == 0
    ids = [r["point_id"] for r in rows(out)]
    assert len(ids) == 44 and len(set(ids)) == 44


def test_dask_local_cluster_runs_the_same_points(tmp_path):
    distributed = pytest.importorskip("distributed")
    spec = parse_sweep(SMALL)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) \
            as cluster, distributed.Client(cluster) as client:
        summary = run_sweep(spec, tmp_path / "dask", scheduler=client, progress=False)
    local = run_sweep(spec, tmp_path / "local", progress=False)
    assert summary["run"] == local["run"] == 6
    latency = {r["point_id"]: r["latency_s"] for r in rows(tmp_path / "local")}
    assert {r["point_id"]: r["latency_s"] for r in rows(tmp_path / "dask")} == latency


def test_a_dask_worker_killed_mid_sweep_loses_no_point(tmp_path, monkeypatch):
    """Two worker processes; one is killed with SIGKILL once the first point is written. The scheduler reruns
    its tasks on the other worker (dask's allowed-failures), so every point is written once, with the values
    of a local run (the searches are seeded, so a rerun point is the same point)."""
    distributed = pytest.importorskip("distributed")
    import threading

    monkeypatch.setenv("CASCADE_CACHE", str(tmp_path / "cache"))  # searched afresh, so points take time
    spec = parse_sweep(STOPPABLE.replace("arch.pe_dim: [64, 128]", "arch.pe_dim: [128]"))
    out = tmp_path / "dask"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) \
            as cluster, distributed.Client(cluster) as client:
        pids = list(client.run(os.getpid).values())
        killed = []

        def kill_one_after_the_first_point() -> None:
            deadline = time.time() + 120
            while time.time() < deadline and not ((out / "results.csv").exists() and rows(out)):
                time.sleep(0.02)
            os.kill(pids[0], signal.SIGKILL)
            killed.append(len(rows(out)))

        killer = threading.Thread(target=kill_one_after_the_first_point)
        killer.start()
        summary = run_sweep(spec, out, scheduler=client, progress=False)
        killer.join()
    assert killed and killed[0] < 6  # the kill came mid-sweep
    assert summary["run"] == 6
    from mappers import cache

    load, store = cache.load, cache.store  # this process searches afresh too, like the workers (manifests still go)
    monkeypatch.setattr(cache, "load", lambda key, *folder: load(key, *folder) if folder else None)
    monkeypatch.setattr(cache, "store", lambda key, value, *folder: store(key, value, *folder) if folder else None)
    local = run_sweep(spec, tmp_path / "local", progress=False)
    assert local["run"] == 6
    by_id = {r["point_id"]: (r["latency_s"], r["energy_pj"]) for r in rows(tmp_path / "local")}
    assert len(rows(out)) == 6 and {r["point_id"]: (r["latency_s"], r["energy_pj"]) for r in rows(out)} == by_id


def test_rejected_points_are_recorded_not_fatal(tmp_path):
    spec = parse_sweep("""
version: 1
name: r
base: {mapping: fusemax, workload: bert, scope: attention, seq_len: 1K}
axes: {arch: [fusemax, flat]}
""")
    run_sweep(spec, tmp_path, progress=False)
    statuses = {r["arch"]: (r["status"], r["reason"]) for r in rows(tmp_path)}
    assert statuses["fusemax"][0] == "ok"
    # FuseMax's mapping runs max on the 2D array; FLAT's 2D PEs have MAC, add and sub only (REFERENCE.md §1)
    assert statuses["flat"][0] == "rejected" and "needs operator max" in statuses["flat"][1]


def test_gpu_points_run_in_a_sweep(tmp_path):
    spec = parse_sweep("""
version: 1
name: gpu
base: {arch: h100-sxm5-80gb, workload: llama3-8b, scope: attention}
axes: {mapping: [fa2, fa3], seq_len: [2K]}
""")
    run_sweep(spec, tmp_path, progress=False)
    latency = {r["mapping"]: float(r["latency_s"]) for r in rows(tmp_path)}
    assert latency["fa3"] < latency["fa2"]


def test_gpu_points_with_a_mapper_search_the_kernels_tiles(tmp_path):
    # FA2's tile space on an H100 has 16 tilings (2 x 4 x 2 x 1); a 2000-evaluation budget covers it, so the
    # searched point is never slower than the shipped tile
    spec = parse_sweep("""
version: 1
name: gpu-mapper
base: {arch: h100-sxm5-80gb, workload: llama3-8b, scope: attention, mapping: fa2, seq_len: 4K}
axes: {batch: [1]}
mapper: {budget: 2000}
""")
    run_sweep(spec, tmp_path, progress=False)
    (row,) = rows(tmp_path)
    assert row["status"] == "ok" and int(row["mapper_evaluated"]) == 16
    from simulator.studies.point import run_point

    shipped = run_point("h100-sxm5-80gb", "fa2", "llama3-8b", "4K", batch=1)
    assert float(row["latency_s"]) <= shipped.latency_s * (1 + 1e-9)


@pytest.mark.parametrize(("mapper", "message"), [
    ("{budget: abc}", "mapper.budget: 'abc' is not a budget"),
    ("{budget: -5s}", "mapper.budget: '-5s' is not a budget: it must be positive"),
    ("{seed: x}", "mapper.seed: 'x' must be an integer"),
])
def test_bad_mapper_section_is_rejected_before_running(mapper, message):
    with pytest.raises(SpecError) as error:
        parse_sweep(f"""version: 1
name: bad-mapper
base: {{arch: h100-sxm5-80gb, workload: llama3-8b, scope: attention, mapping: fa2, seq_len: 4K}}
axes: {{batch: [1]}}
mapper: {mapper}
""", "bad-mapper.yaml")
    assert message in str(error.value)


def test_gpu_mapper_point_on_an_unfused_kernel_is_a_rejected_row(tmp_path):
    spec = parse_sweep("""
version: 1
name: gpu-mapper-unfused
base: {arch: h100-sxm5-80gb, workload: llama3-8b, scope: attention, seq_len: 2K}
axes: {mapping: [pytorch-unfused, fa2]}
mapper: {budget: 2000}
""")
    run_sweep(spec, tmp_path, progress=False)
    by_mapping = {r["mapping"]: r for r in rows(tmp_path)}
    assert by_mapping["pytorch-unfused"]["status"] == "rejected"
    assert "unfused; only fused and split-KV kernels have tiles to search" in by_mapping["pytorch-unfused"]["reason"]
    assert by_mapping["fa2"]["status"] == "ok" and by_mapping["fa2"]["mapping_name"].startswith("fa2")


def test_gpu_points_apply_arch_overrides(tmp_path):
    # halving the SM clock of a compute-bound fused kernel (FA3 at 8K on an H100) must slow it down; an override
    # the GPU does not have is a rejected row, not silently ignored
    spec = parse_sweep("""
version: 1
name: gpu-overrides
base: {arch: h100-sxm5-80gb, workload: llama3-8b, scope: attention, mapping: fa3, seq_len: 8K}
axes: {arch.clock_hz: [1830000000, 915000000]}
""")
    run_sweep(spec, tmp_path, progress=False)
    latency = {float(r["arch.clock_hz"]): float(r["latency_s"]) for r in rows(tmp_path)}
    assert 1.8 < latency[0.915e9] / latency[1.83e9] < 2.01
    spec = parse_sweep("""
version: 1
name: gpu-bad-override
base: {arch: h100-sxm5-80gb, workload: llama3-8b, scope: attention, mapping: fa3, seq_len: 8K}
axes: {arch.pe_dim: [64]}
""")
    run_sweep(spec, tmp_path / "bad", progress=False)
    (row,) = rows(tmp_path / "bad")
    assert row["status"] == "rejected" and "unknown GPU override 'pe_dim'" in row["reason"]


def test_growth_rule_doubles_the_buffer_from_the_arch_value_until_not_memory_bound(tmp_path):
    # with no arch.global_buffer_bytes on the point, the rule starts from the preset's own buffer and doubles it
    from arch_models import load_arch

    spec = parse_sweep("""
version: 1
name: grow
base: {arch: fusemax, workload: bert, seq_len: 64K, scope: attention, arch.dram_bandwidth_bytes_per_s: 1000000000}
axes: {mapping: [flat]}
grow: {key: arch.global_buffer_bytes, until: not-memory-bound, max: 17179869184}
""")
    run_sweep(spec, tmp_path, progress=False)
    (row,) = rows(tmp_path)
    start = load_arch("fusemax").global_buffer.capacity_bytes
    grown = int(row["grown_value"])
    assert row["status"] == "ok" and grown > start and (grown / start) == 2 ** round(math.log2(grown / start))
    assert row["bound"] != "memory" or grown * 2 > 17179869184


def _scripted_evaluate(monkeypatch, answers):
    """Replace the point evaluation by a script: buffer size -> a row or an exception; returns the calls."""
    from simulator.studies.sweeps import run_point

    calls = []

    def evaluate(values):
        calls.append(values["arch.global_buffer_bytes"])
        answer = answers(values["arch.global_buffer_bytes"])
        if isinstance(answer, Exception):
            raise answer
        return answer, []

    monkeypatch.setattr(run_point, "_evaluate", evaluate)
    return calls


def test_growth_grows_past_overflow_and_reports_the_last_overflow_at_the_maximum(monkeypatch):
    from simulator.spatial.lower import CapacityRejected
    from simulator.studies.sweeps.run_point import evaluate_point

    grow = {"key": "arch.global_buffer_bytes", "factor": 2, "max": 8}
    calls = _scripted_evaluate(monkeypatch, lambda size: CapacityRejected(f"needs 100, has {size}"))
    row, _ = evaluate_point({"arch.global_buffer_bytes": 1}, grow)
    assert calls == [1, 2, 4, 8]  # 16 exceeds the maximum
    assert row["status"] == "rejected" and "has 8" in row["reason"]

    calls = _scripted_evaluate(monkeypatch, lambda size: CapacityRejected("x") if size < 4 else {"bound": "compute"})
    row, _ = evaluate_point({"arch.global_buffer_bytes": 1}, grow)
    assert calls == [1, 2, 4] and row["grown_value"] == 4


def test_growth_does_not_grow_past_a_rejection_a_larger_buffer_cannot_lift(monkeypatch):
    from simulator.spatial.lower import MappingRejected
    from simulator.studies.sweeps.run_point import evaluate_point

    calls = _scripted_evaluate(monkeypatch, lambda size: MappingRejected("GM reads QK of a later stage"))
    row, _ = evaluate_point({"arch.global_buffer_bytes": 1}, {"key": "arch.global_buffer_bytes", "max": 64})
    assert calls == [1] and row["status"] == "rejected" and "later stage" in row["reason"]


def _children(pid: int) -> set[int]:
    """Live processes whose parent is `pid` (Linux /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_sigkill_of_a_parallel_sweep_leaves_no_worker_behind(tmp_path):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("""
version: 1
name: orphans
base: {workload: bert, scope: attention}
axes:
  design: [unfused, flat, fusemax]
  seq_len: [1K, 2K, 4K, 8K, 16K, 32K, 64K, 128K, 256K, 512K, 1M]
""")
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "simulator.cli.main", "sweep", str(sweep), "-o", str(out),
                                "--jobs", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    deadline = time.time() + 60
    while time.time() < deadline and len(workers) < 2:
        workers |= _children(process.pid)
        time.sleep(0.05)
    assert len(workers) >= 2, "the pool's workers never started"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.time() + 5
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.05)
    assert not [w for w in workers if _alive(w)]
    assert main(["sweep", str(sweep), "-o", str(out), "--json"]) == 0
    ids = [r["point_id"] for r in rows(out)]
    assert len(ids) == 33 and len(set(ids)) == 33


STOPPABLE = """
version: 1
name: stoppable
base: {arch: fusemax, cascade: fusemax, workload: bert, scope: attention}
mapper: {budget: 4000, seed: 0, strategy: random}
axes:
  arch.pe_dim: [64, 128]
  seq_len: [1K, 2K, 4K, 8K, 16K, 32K]
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_a_parallel_sweep_cleanly(tmp_path, signum):
    """SIGINT or SIGTERM after the first point: exit 128 + the signal within seconds, one line saying how many
    points are kept, no worker left, and every written row whole and written once."""
    sweep, out = tmp_path / "sweep.yaml", tmp_path / "out"
    sweep.write_text(STOPPABLE)
    env = {**os.environ, "CASCADE_CACHE": str(tmp_path / "cache")}  # searched afresh, so points take time
    process = subprocess.Popen([sys.executable, "-m", "simulator.cli.main", "sweep", str(sweep), "-o", str(out),
                                "--jobs", "2", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)
    workers: set[int] = set()
    deadline = time.time() + 90
    while time.time() < deadline and not ((out / "results.csv").exists() and rows(out)):
        workers |= _children(process.pid)
        time.sleep(0.02)
    assert rows(out), "no point finished"
    os.kill(process.pid, signum)
    sent = time.time()
    _, err = process.communicate(timeout=30)
    assert process.returncode == 128 + signum and time.time() - sent < 5
    done = len(rows(out))
    assert err.strip() == (f"cascade: sweep stopped by {signal.Signals(signum).name}: {done} of 12 points are done "
                           f"and kept in {out}; run the same command again to resume")
    deadline = time.time() + 5
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.05)
    assert workers and not [w for w in workers if _alive(w)]
    written = rows(out)
    assert 1 <= len(written) < 12 and len({r["point_id"] for r in written}) == len(written)
    assert all(r["status"] == "ok" and float(r["latency_s"]) > 0 for r in written)


def test_an_unreachable_scheduler_is_one_line_within_its_timeout(tmp_path, capsys):
    (tmp_path / "s.yaml").write_text(SMALL)
    start = time.perf_counter()
    assert main(["sweep", str(tmp_path / "s.yaml"), "-o", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:1",
                 "--scheduler-timeout", "1"]) == 2
    assert time.perf_counter() - start < 10
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "cannot reach the dask scheduler 'tcp://127.0.0.1:1' within 1 s" in error


def test_another_sweep_is_refused_in_a_folder_that_holds_one(tmp_path):
    out = tmp_path / "out"
    run_sweep(parse_sweep(SMALL), out, progress=False)
    before = (out / "results.csv").read_text()
    other = SMALL.replace("name:", "name: other-", 1)
    with pytest.raises(SpecError, match="holds the results of another sweep"):
        run_sweep(parse_sweep(other), out, progress=False)
    assert (out / "results.csv").read_text() == before  # nothing appended, manifest kept
    assert run_sweep(parse_sweep(SMALL), out, progress=False)["skipped"] == 6  # the same sweep resumes


def test_a_finished_sweep_is_in_point_order_whatever_order_its_workers_finished(tmp_path):
    spec = parse_sweep(SMALL)
    run_sweep(spec, tmp_path / "out", jobs=2, progress=False)
    indices = [int(r["point_index"]) for r in rows(tmp_path / "out")]
    assert indices == list(range(len(spec.points)))
    with (tmp_path / "out" / "einsums.csv").open(newline="") as handle:
        order = {r["point_id"]: int(r["point_index"]) for r in rows(tmp_path / "out")}
        einsum_points = [order[r["point_id"]] for r in csv.DictReader(handle)]
    assert einsum_points == sorted(einsum_points) and not (tmp_path / "out" / "results.csv.sorting").exists()


def test_a_point_s_note_is_a_column(tmp_path):
    # 1000 tokens in FuseMax's tiles of 256 rows are 4 tiles, 1024 covered: the row says what is padded
    spec = parse_sweep("""
version: 1
name: n
base: {design: fusemax, workload: bert, scope: attention}
axes: {seq_len: [1000, 1024]}
""")
    run_sweep(spec, tmp_path, progress=False)
    notes = {r["seq_len"]: r["note"] for r in rows(tmp_path)}
    assert notes == {"1000": "short last tiles padded: m 1,000 -> 1,024 (+2.4%), p 1,000 -> 1,024 (+2.4%)",
                     "1024": ""}
