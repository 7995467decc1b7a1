"""`cascade check`: execute a cascade on random inputs and compare it with its reference: a direct numpy
formula, another cascade, or a Python function."""

from __future__ import annotations

from einsum_cascade.check import check_cascade
from einsum_cascade.errors import SpecError
from einsum_cascade.library import library_cascade, library_names, resolve_cascade
from simulator.cli.output import print_json, table


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("check", help="run a cascade against its reference formula")
    parser.add_argument("cascade", nargs="?", help="library name or path to a cascade YAML file")
    parser.add_argument("--all", action="store_true", help="check every library cascade")
    parser.add_argument("--against", help="check against this instead of the cascade's `reference:`: a formula "
                        "(softmax_causal), a cascade (library name or .yaml file) or a Python function "
                        "module:function")
    parser.add_argument("--seed", type=seed, default=0, help="seed of the random inputs (0 to 2**32 - 1)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=run)


def run(args) -> int:
    if not args.all and not args.cascade:
        raise SpecError("name a cascade (library name or file) or pass --all", key="cascade")
    cascades = [library_cascade(n) for n in library_names()] if args.all else [resolve_cascade(args.cascade)]
    results = []
    for cascade in cascades:
        for result in check_cascade(cascade, args.seed, args.against):
            results.append({"cascade": cascade.name, "reference": args.against or cascade.reference,
                            "sizes": result.sizes,
                            "max_abs_error": result.max_abs_error, "passed": result.passed,
                            "density_errors": list(result.density_errors)})
    if args.json:
        print_json({"passed": all(r["passed"] for r in results), "results": results})
    else:
        rows = [(r["cascade"], r["reference"], " ".join(f"{k}={v}" for k, v in r["sizes"].items()),
                 f"{r['max_abs_error']:.2e}", "ok" if r["passed"] else "FAIL", "; ".join(r["density_errors"]) or "-")
                for r in results]
        print(table(("cascade", "reference", "sizes", "max |error|", "result", "declared density vs points kept"),
                    rows))
    return 0 if all(r["passed"] for r in results) else 1


def seed(text: str) -> int:
    """A random seed numpy accepts: an integer from 0 to 2**32 - 1 (argparse turns the error into one line)."""
    value = int(text)
    if not 0 <= value < 2**32:
        raise ValueError(text)
    return value
