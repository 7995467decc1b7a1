"""`cascade analyze`: dependency graph, pass count with its forcing chain, footprint, operation counts."""

from __future__ import annotations

from einsum_cascade.analysis import analyze_passes, dependency_graph, to_dot
from einsum_cascade.analysis.report import analysis_report, taxonomy_row
from einsum_cascade.analysis.symbols import TYPICAL_SHAPES
from einsum_cascade.errors import SpecError
from einsum_cascade.library import library_cascade, library_names, resolve_cascade
from einsum_cascade.sizes import parse_shape_option
from simulator.cli.output import print_json, table


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("analyze", help="passes, footprint and operation counts of a cascade")
    parser.add_argument("cascade", nargs="?", help="library name or path to a cascade YAML file")
    parser.add_argument("--all", action="store_true", help="taxonomy table of every library cascade")
    parser.add_argument("--rank", default="M", help="rank to count passes over (symbol or name; default M)")
    parser.add_argument("--shape", help="evaluate counts for shapes, e.g. M=65536,P=65536,E=64,F=64,B=64,H=12")
    parser.add_argument("--dot", action="store_true", help="print the dependency graph as Graphviz DOT")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=run)


def run(args) -> int:
    if args.all:
        return _taxonomy(args)
    if not args.cascade:
        raise SpecError("name a cascade (library name or file) or pass --all", key="cascade")
    cascade = resolve_cascade(args.cascade)
    if args.dot:
        print(to_dot(dependency_graph(cascade), analyze_passes(cascade, args.rank).pass_of), end="")
        return 0
    report = analysis_report(cascade, args.rank, parse_shape_option(args.shape))
    if args.json:
        print_json(report)
    else:
        print(_text_report(report))
    return 0


def _taxonomy(args) -> int:
    rows = [taxonomy_row(library_cascade(name), args.rank) for name in library_names()]
    if args.json:
        print_json({"rank": args.rank, "typical_shapes": TYPICAL_SHAPES, "rows": rows})
        return 0
    kinds = sorted({k for row in rows for k in row["ops_per_pair_typical"]},
                   key=lambda k: ("mul", "add", "sub", "max", "exp", "div").index(k) if k in
                   ("mul", "add", "sub", "max", "exp", "div") else 99)
    body = [[row["cascade"], row["passes"], row["footprint_per_query"], row["footprint_order"],
             *[row["ops_per_pair_typical"].get(k, 0) for k in kinds]] for row in rows]
    title = (f"Cascade taxonomy: passes over {args.rank}, live footprint per query (elements), and operations per "
             f"query-key pair at M=P={TYPICAL_SHAPES['M']}, E=F={TYPICAL_SHAPES['E']}, library tile sizes")
    print(table(["cascade", "passes", "footprint/query", "order", *kinds], body, title=title))
    return 0


def _text_report(report: dict) -> str:
    lines = [f"cascade {report['cascade']} ({report['source']}): {report['description']}",
             f"passes over {report['rank']}: {report['passes']}"]
    for step in report["pass_steps"]:
        lines.append(f"  pass {step['pass']}: {step['consumer']} needs {step['reduction']}, complete only after pass "
                     f"{step['pass'] - 1}; it walks {','.join(step['traverses'])} again and re-reads "
                     f"{', '.join(step['rereads']) or 'nothing indexed by the rank'}")
    footprint = report["footprint"]
    lines.append(f"live footprint per query: {footprint['per_query']} elements, {footprint['order']}")
    for number, tensors in footprint["tensors"].items():
        parts = ", ".join(f"{t}={v['elements']} ({v['why']})" for t, v in tensors.items())
        lines.append(f"  pass {number}: {parts}")
    counts = report["op_counts"]
    evaluated = report.get("evaluated", {}).get("per_einsum", {})
    rows = [[einsum, kind, count, evaluated.get(einsum, {}).get(kind, "")]
            for einsum, kinds in counts["per_einsum"].items() for kind, count in kinds.items()]
    lines.append(table(["einsum", "kind", f"count per instance ({counts['instances']} instances)", "evaluated"], rows,
                       title="operation counts"))
    lines.append("per kind: " + ", ".join(f"{k}: {v}" for k, v in counts["by_kind"].items()))
    lines.append("per query-key pair: " + ", ".join(f"{k}: {v}" for k, v in counts["per_query_key_pair"].items()))
    lines += [f"note: {note}" for note in report.get("notes", [])]
    if counts["masks_without_density"]:
        lines.append(f"note: masks {', '.join(counts['masks_without_density'])} have no density; counts are dense")
    if "total_by_kind" in report.get("evaluated", {}):
        lines.append("total for the given shapes: " + ", ".join(
            f"{k}: {v:.4g}" for k, v in report["evaluated"]["total_by_kind"].items()))
    return "\n".join(lines)
