"""`cascade map`: search tilings, loop orders, spatial bindings, placement and fusion for a cascade."""

from __future__ import annotations

from arch_models.gpu import GpuArch
from einsum_cascade.errors import SpecError
from einsum_cascade.library import resolve_cascade
from einsum_cascade.sizes import parse_shape_option
from mappers.search import STRATEGIES, SearchSettings, parse_budget
from simulator.cli.output import format_number, names_option, report_results
from simulator.spatial.mapper_cost import OBJECTIVES
from simulator.studies.arch_overrides import add_set_argument, load_arch_with_overrides, parse_set_options
from simulator.studies.spatial_search import search_mapping
from workloads.zoo import attention_shapes, load_model, parse_seq_len


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("map", help="search the best mapping of a cascade on an architecture")
    parser.add_argument("--arch", required=True, help="architecture preset or YAML file")
    parser.add_argument("--cascade",
                        help="library cascade or YAML file; several comma-separated are mapped side by side")
    parser.add_argument("--mappings", "--kernel", dest="kernel", metavar="MAPPINGS",
                        help="GPU only: GPU mappings whose tiles to search (e.g. fa2,fa3); default: every fused GPU "
                             "kernel that computes --cascade")
    parser.add_argument("--workload", help="model whose attention shapes to use (with --seq)")
    parser.add_argument("--seq", help="sequence length, e.g. 64K")
    parser.add_argument("--shape", help="explicit shapes instead of a workload, e.g. M=1024,K=1024,N=1024; with "
                                        "--workload, sizes added to or replacing its shapes, e.g. an algorithm's "
                                        "block sizes (sparge: P0=256,M0=256)")
    parser.add_argument("--objective", choices=OBJECTIVES, default="latency")
    parser.add_argument("--budget", default="30s", help="seconds (30s) or candidate evaluations (200000)")
    parser.add_argument("--strategy", choices=STRATEGIES, default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", help="write the best mapping to this file (simulate --mapping reads it); with "
                                       "several cascades or kernels, the fastest one's")
    parser.add_argument("--no-cache", action="store_true",
                        help="ignore and do not write the result cache (spatial searches; GPU searches are not cached)")
    add_set_argument(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=run)


def _bound_shapes(args, cascade) -> dict[str, int]:
    """The cascade's sizes: a workload's attention shapes (a size the cascade fixes, such as decode's P = 1, wins),
    then the --shape sizes, which must not contradict the cascade; or --shape alone."""
    given = parse_shape_option(args.shape) if args.shape else {}
    if not (args.workload or args.seq):
        if not given:
            raise SpecError("give --workload and --seq, or --shape", key="--workload")
        return cascade.bind_shapes(given, explicit=True)
    if not (args.workload and args.seq):
        raise SpecError("give --workload and --seq together", key="--seq" if args.workload else "--workload")
    workload = cascade.bind_shapes(attention_shapes(load_model(args.workload), parse_seq_len(args.seq)),
                                   explicit=False)
    return cascade.bind_shapes({**workload, **given}, explicit=True) if given else workload


def run(args) -> int:
    evaluations, seconds = parse_budget(args.budget)
    settings = SearchSettings(strategy=args.strategy, evaluations=evaluations, seconds=seconds, seed=args.seed)
    arch = load_arch_with_overrides(args.arch, parse_set_options(args.set))
    if isinstance(arch, GpuArch):
        from simulator.cli.map_gpu import run_gpu
        return run_gpu(args, settings, arch)
    if not args.cascade:
        raise SpecError("give --cascade (library cascades or YAML files)", key="--cascade")
    if args.kernel:
        raise SpecError(f"--mappings applies to GPU architectures; {args.arch!r} is a spatial array (its mapping "
                        "is searched)", key="--mappings")
    cascades = [resolve_cascade(n) for n in names_option(args.cascade, "--cascade")]
    bound = [_bound_shapes(args, c) for c in cascades]
    for cascade, sizes in zip(cascades, bound, strict=True):
        if any(mask.density for mask in cascade.masks):  # symbolic (sympy): loaded only for a declared density
            from einsum_cascade.analysis.symbols import check_densities

            check_densities(cascade, sizes)
    results = [search_mapping(c, arch, sizes, args.objective, settings, progress=not args.json,
                              use_cache=not args.no_cache) for c, sizes in zip(cascades, bound, strict=True)]
    return report_results(args, results, "cascade", lambda result: _print(result, args.save))


def _print(result: dict, save: str | None) -> None:
    best = result["best"]
    print(f"best mapping of {result['cascade']} on {result['arch']} ({result['objective']}): "
          f"{result['mapping_description']}")
    for key in ("latency_s", "energy_pj", "dram_bytes", "util_2d", "util_1d", "bound"):
        print(f"  {key:<12} {format_number(best[key])}")
    explanation = result["explanation"]
    print(f"  bounds       compute {explanation['compute_bound_s']:.4g} s, DRAM {explanation['dram_bound_s']:.4g} s; "
          f"{explanation['gap_over_bound']:.3f}x the larger")
    if explanation["why"]:
        print(f"  why          {explanation['why']}")
    merged = f"; {result['structures_merged']} structures merged" if result.get("structures_merged") else ""
    print(f"  search       {result['strategy']}, {result['evaluated']:,} distinct candidates of "
          f"{result['space_size']:,}{merged} ({result['legal']:,} legal, {result.get('pruned', 0):,} pruned; "
          f"{result.get('duplicates', 0):,} repeats skipped) in {result['seconds']:.2f} s = "
          f"{result['candidates_per_s']:,.0f} legal/s; best after "
          f"{result['time_to_best_s']:.2f} s{' (cached)' if result['cached'] else ''}")
    if result.get("note"):
        print(f"  note         {result['note']}")
    if save and result.get("saved"):
        print(f"  saved        {save}")
