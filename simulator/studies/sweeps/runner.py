"""Run the points of a sweep: in this process, in a pool of processes, or on a dask.distributed cluster.
Each finished point is written at once; points already in the results file are skipped. SIGINT or SIGTERM
stops the sweep between points (`SweepStopped`, simulator/studies/sweeps/stop.py) with every finished point kept."""

from __future__ import annotations

from concurrent.futures import Executor, as_completed
from pathlib import Path

from tqdm import tqdm

from simulator.studies.sweeps.run_point import METRICS, evaluate_point
from simulator.studies.sweeps.spec import SweepSpec
from simulator.studies.sweeps.stop import StopOnSignals, SweepStopped
from simulator.studies.sweeps.store import SweepStore
from simulator.studies.sweeps.workers import DEFAULT_SCHEDULER_TIMEOUT_S, dask_client, worker_pool


def point_keys(spec: SweepSpec) -> list[str]:
    keys: list[str] = []
    for point in spec.points:
        keys += [k for k in point.values if k not in keys and k != "mapper"]
    return keys


def run_sweep(spec: SweepSpec, out: str | Path, jobs: int = 1, scheduler: str | None = None,
              progress: bool = True, scheduler_timeout_s: float = DEFAULT_SCHEDULER_TIMEOUT_S,
              pool: Executor | None = None) -> dict:
    """Run the points of `spec` not yet in `out`: on `scheduler` (dask), else in `pool` (a running process pool,
    shared by a study that runs several sweeps), else in `jobs` worker processes (1: in this process)."""
    store = SweepStore(out, ["point_index", *point_keys(spec)], [*METRICS, "grown_value"], spec,
                       (spec.mapper or {}).get("seed"))
    index = {point.id: n for n, point in enumerate(spec.points)}
    done = store.finished()
    todo = [p for p in spec.points if p.id not in done]
    bar = tqdm(total=len(spec.points), initial=len(spec.points) - len(todo), desc=spec.name, unit="pt",
               disable=not progress)
    results = {"points": len(spec.points), "skipped": len(spec.points) - len(todo), "run": 0, "rejected": 0,
               "out": str(out)}

    stop = StopOnSignals()

    def record(point, outcome) -> None:
        row, einsums = outcome
        values = {"point_index": index[point.id], **{k: v for k, v in point.values.items() if k != "mapper"}}
        with stop.writing():  # a stop waits for the point's rows to be written
            store.add(point.id, values, row, einsums)
            results["run"] += 1
            results["rejected"] += row.get("status") == "rejected"
            bar.update(1)

    try:
        with stop:
            _run(spec, todo, jobs, scheduler, scheduler_timeout_s, record, pool)
            if todo:  # finished now: rows in point order, whatever order the workers finished in
                with stop.writing():
                    store.sort_by_point(index)
    except SweepStopped as stopped:
        raise SweepStopped(stopped.signum, results["skipped"] + results["run"], len(spec.points), str(out)) from None
    finally:
        bar.close()
    return results


def _run(spec: SweepSpec, todo: list, jobs: int, scheduler, scheduler_timeout_s: float, record, pool) -> None:
    if scheduler:
        _run_dask(scheduler, todo, spec.grow, record, scheduler_timeout_s)
    elif pool is not None:
        _run_pool(pool, todo, spec.grow, record)
    elif jobs > 1:
        with worker_pool(jobs) as own:
            _run_pool(own, todo, spec.grow, record)
    else:
        for point in todo:
            record(point, evaluate_point(point.values, spec.grow))


def _run_pool(pool: Executor, todo: list, grow, record) -> None:
    futures = {pool.submit(evaluate_point, p.values, grow): p for p in todo}
    for future in as_completed(futures):
        record(futures[future], future.result())


def _run_dask(scheduler, todo, grow, record, timeout_s: float) -> None:
    """`scheduler` is an address (tcp://host:8786) or an existing distributed.Client."""
    from distributed import Client
    from distributed import as_completed as dask_completed

    client = scheduler if isinstance(scheduler, Client) else dask_client(scheduler, timeout_s)
    try:
        futures = {client.submit(evaluate_point, p.values, grow, pure=False): p for p in todo}
        for future in dask_completed(list(futures)):
            record(futures[future], future.result())
    finally:
        if not isinstance(scheduler, Client):
            client.close()
