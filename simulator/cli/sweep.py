"""`cascade sweep FILE -o DIR`: run every point of a sweep file; finished points are kept and skipped."""

from __future__ import annotations

from simulator.cli.output import print_json, results_folder
from simulator.studies.sweeps.runner import run_sweep
from simulator.studies.sweeps.spec import load_sweep
from simulator.studies.sweeps.workers import DEFAULT_SCHEDULER_TIMEOUT_S


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("sweep", help="run a YAML design sweep (resumable)")
    parser.add_argument("file", help="sweep file, e.g. workloads/sweeps/fusemax-reproduction.yaml")
    parser.add_argument("-o", "--out", required=True, help="results directory (results.csv, einsums.csv, manifest)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes on this machine")
    parser.add_argument("--scheduler", help="address of a dask.distributed scheduler, e.g. tcp://host:8786")
    parser.add_argument("--scheduler-timeout", type=float, default=DEFAULT_SCHEDULER_TIMEOUT_S, metavar="S",
                        help=f"seconds to wait for the scheduler (default {DEFAULT_SCHEDULER_TIMEOUT_S:g})")
    parser.add_argument("--json", action="store_true", help="machine-readable summary")
    parser.set_defaults(run=run)


def run(args) -> int:
    spec = load_sweep(args.file)  # a bad file writes nothing, not even the folder
    results_folder(args.out)
    summary = run_sweep(spec, args.out, jobs=args.jobs, scheduler=args.scheduler,
                        progress=not args.json, scheduler_timeout_s=args.scheduler_timeout)
    if args.json:
        print_json(summary)
    else:
        print(f"{summary['points']} points: {summary['run']} run ({summary['rejected']} rejected by the model), "
              f"{summary['skipped']} already done; results in {summary['out']}/results.csv")
    return 0
