"""`cascade validate-gpu`: the GPU threadblock model against measured attention kernels."""

from __future__ import annotations

from pathlib import Path

from einsum_cascade.errors import SpecError
from simulator.cli.output import print_json, table

GROUPS = (("by_gpu", "gpu"), ("by_kernel", "kernel"), ("by_pass", "pass"), ("by_kernel_headdim", "pass / kernel / d"))


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("validate-gpu", help="compare the GPU model with measured attention kernels")
    parser.add_argument("--data", help="measurement CSV (default: the shipped FA2/FA3/Flash-Decoding measurements)")
    parser.add_argument("--plot", help="write a parity plot (predicted vs measured, log axes) to PATH (.pdf + .png)")
    parser.add_argument("--rows", action="store_true", help="also print every row (text output)")
    parser.add_argument("--calibrate-on", metavar="GPU[,GPU]",
                        help="also refit the efficiencies on these GPUs' rows only and score the other GPUs' rows "
                             "(summary.transfer); names as in `cascade list archs`, exact or a declared alias")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=run)


def run(args) -> int:
    from simulator.studies.gpu_validation.ablation import pipelining_ablation
    from simulator.studies.gpu_validation.measurements import DATA_FILE, read_measurements
    from simulator.studies.gpu_validation.validate import validate

    measurements = read_measurements(args.data or DATA_FILE)
    if not measurements:
        raise SpecError(f"{args.data or DATA_FILE}: no measurement rows (only a header)", key="--data")
    result = validate(measurements, calibrate_on=calibrate_on_names(args.calibrate_on))
    if not result["summary"]["overall"]["rows"]:
        reasons = result["summary"]["not_modelled"]["reasons"]
        raise SpecError(f"{args.data or DATA_FILE}: none of its {len(measurements)} rows is modelled: "
                        f"{'; '.join(reasons[:3])}{' ...' if len(reasons) > 3 else ''}", key="--data")
    result["data"] = str(args.data or DATA_FILE)
    result["fa3_pipelining_ablation"] = pipelining_ablation()
    if args.plot:
        from simulator.studies.plots.gpu_parity import plot_parity

        result["figures"] = [str(p) for p in plot_parity(result, Path(args.plot))]
    if args.json:
        print_json(result)
    else:
        print(format_validation(result, rows=args.rows))
    return 0


def calibrate_on_names(text: str | None) -> tuple[str, ...]:
    """`--calibrate-on a100,H100` -> the names; an empty name is a one-line error."""
    if text is None:
        return ()
    names = tuple(name.strip() for name in text.split(","))
    if not all(names):
        raise SpecError(f"{text!r} must be GPU names separated by commas, e.g. a100-sxm4-80gb,h100-sxm5-80gb",
                        key="--calibrate-on")
    return names


def format_validation(result: dict, rows: bool = False) -> str:
    summary = result["summary"]
    blocks = []
    if rows:
        lines = [(r["gpu"], r["kernel"], r["mapping"] or "-", r["pass"], r["causal"], r["headdim"], r["batch"],
                  r["seqlen_kv"], r["unit"], r["measured"], "-" if r["predicted"] is None else f"{r['predicted']:.4g}",
                  "-" if r["error_pct"] is None else f"{r['error_pct']:+.1f}%", r["role"] or "not modelled")
                 for r in result["rows"]]
        blocks.append(table(("gpu", "kernel", "mapping", "pass", "causal", "d", "batch", "seqlen", "unit", "measured",
                             "predicted", "error", "role"), lines, title="every row"))
    overall = [(name, s["rows"], _pct(s["mape_pct"]), _pct(s["max_abs_error_pct"]))
               for name, s in (("all modelled rows", summary["overall"]), ("fitted (the calibration subset)",
                                                                           summary["fitted"]),
                               ("development set (shipped, not fitted)", summary["development"]),
                               ("held out (not shipped, not fitted)", summary["held_out"]))]
    blocks.append(table(("rows", "count", "MAPE", "worst |error|"), overall,
                        title=f"GPU model vs measurements ({result['data']}); the development set informed the "
                              f"model's structure, so only held-out rows are unseen"))
    names = [(n["gpu"], n["gpu_preset"], n["kernel"], n["mapping"]) for n in summary["names"]]
    if names:
        blocks.append(table(("gpu", "preset", "kernel", "mapping"), names, title="names in the data -> what was "
                                                                                  "simulated"))
    for key, label in GROUPS:
        lines = [(name, s["rows"], _pct(s["mape_pct"]), _pct(s["max_abs_error_pct"]), _pct(s["mean_error_pct"]))
                 for name, s in summary[key].items()]
        blocks.append(table((label, "rows", "MAPE", "worst |error|", "mean error"), lines))
    blocks.append(_targets_table(result["targets"], summary.get("transfer")))
    if "fa3_pipelining_ablation" in result:
        blocks.append(_ablation_table(result["fa3_pipelining_ablation"]))
    if "transfer" in summary:
        blocks.append(_transfer_table(summary["transfer"]))
    causal = _causal_table(summary["causal_ratios"])
    if causal:
        blocks.append(causal)
    decode = [(d["batch"], d["seqlen_kv"], f"{d['fa2']['time_us']:.0f}", f"{d['fa2']['grid_blocks']}",
               f"{d['fa2']['sm_fraction_busy']:.0%}", f"{d['split_kv']['time_us']:.0f}", d["split_kv"]["splits"],
               f"{d['split_kv']['grid_blocks']}", f"{d['speedup_split_kv']:.1f}x",
               f"{d['speedup_without_gqa_packing']:.1f}x")
              for d in result["decode_analysis"]]
    if decode:
        blocks.append(table(("batch", "kv len", "FA2 us", "FA2 blocks", "SMs busy", "split-KV us", "splits", "blocks",
                             "speedup", "unpacked"), decode,
                            title="decode: FA2 (grid = batch x heads) vs split-KV (key chunks as extra blocks; "
                                  "unpacked = split-KV without packing a K/V group's heads into one tile)"))
    not_modelled = summary["not_modelled"]
    if not_modelled["rows"]:
        blocks.append(f"not modelled: {not_modelled['rows']} rows of {', '.join(not_modelled['kernels'])}\n  "
                      + "\n  ".join(f"{count} rows: {reason}"
                                     for reason, count in not_modelled["rows_by_reason"].items()))
    if result.get("figures"):
        blocks.append("parity plot: " + ", ".join(result["figures"]))
    return "\n\n".join(blocks)


TARGET_NAMES = {"mape_pct": "MAPE", "max_abs_error_pct": "worst"}


def _targets_table(targets: dict, transfer: dict | None) -> str:
    lines = []
    for passes, t in targets.items():
        named = t["outliers"]
        outliers = (f"{named['rows']} named outliers ({', '.join(f'{k} {v}' for k, v in t['named_outliers'].items())})"
                    f", worst {_pct(named['max_abs_error_pct'])}" if named["rows"] else "-")
        lines.append((passes, t["rows"], _pct(t["mape_pct"]), _pct(t["max_abs_error_pct"]), _goal(t["target"]),
                      "met" if t["met"] else "NOT met", outliers))
    if transfer:
        lines.append((f"transfer from {'+'.join(transfer['calibrated_on'])}", transfer["overall"]["rows"],
                      _pct(transfer["overall"]["mape_pct"]), _pct(transfer["overall"]["max_abs_error_pct"]),
                      _goal(transfer["target"]), "met" if transfer["met"] else "NOT met", "-"))
    else:
        from simulator.studies.gpu_validation.validate import TRANSFER_TARGET

        lines.append(("transfer, each way", "-", "-", "-", _goal(TRANSFER_TARGET), "see --calibrate-on GPU", "-"))
    return table(("pass", "rows", "MAPE", "worst", "target", "", "left out of the worst"), lines,
                 title="accuracy targets")


def _ablation_table(ablation: dict) -> str:
    """The paper's pipelining ablation: each row's time, the model's with the row's mapping keys replaced."""
    from mappers.gpu_overrides import shown

    p = ablation["problem"]
    lines = [(r["name"], shown(r["mapping_overrides"], "mapping.", ",") or "-", f"{r['measured_ms']:.3f}",
              f"{r['predicted_ms']:.3f}", f"{r['error_pct']:+.1f}%", "met" if r["met"] else "NOT met")
             for r in ablation["rows"]]
    return table(("configuration", "--set", "paper ms", "model ms", "error", f"<= {ablation['target_pct']:g}%"), lines,
                 title=f"{ablation['source']}: {ablation['mapping']} on {ablation['gpu']}, batch {p['batch']}, "
                       f"{p['heads']} heads, d = {p['head_dim']}, {p['seqlen_kv']} tokens, "
                       f"{'causal' if p['causal'] else 'non-causal'}")


def _goal(target: dict) -> str:
    return ", ".join(f"{TARGET_NAMES[k]} <= {v:g}%" for k, v in target.items())


def _transfer_table(transfer: dict) -> str:
    """The leave-GPUs-out score: what was refitted on which rows, and the other GPUs' error by pass."""
    families = "; ".join(f"{family} {f['efficiency']:g} (" + (f"{f['rows']} {f['pass']} rows" if f["fitted"] else
                                                             "not fitted: no rows, datasheet rate") + ")"
                         for family, f in transfer["families"].items())
    lines = [(name, s["rows"], _pct(s["mape_pct"]), _pct(s["max_abs_error_pct"]), _pct(s["mean_error_pct"]),
              _where(s["worst"]))
             for name, s in (("all", transfer["overall"]), *transfer["by_pass"].items())]
    return table(("pass", "rows", "MAPE", "worst |error|", "mean error", "worst row"), lines,
                 title=f"transfer: calibrated on {', '.join(transfer['calibrated_on'])}, scored on "
                       f"{', '.join(transfer['scored_on'])}; refitted: {families}")


def _where(worst: dict) -> str:
    return (f"{worst['gpu']} {worst['kernel']} {worst['pass']} d={worst['headdim']} {worst['seqlen_kv']} keys"
            f"{' causal' if worst['causal'] else ''} {worst['error_pct']:+.1f}%")


def _causal_table(ratios: list[dict]) -> str | None:
    """Causal / non-causal time per kernel group: how far the model's ratio is from the measured one, and the
    farthest pair."""
    groups: dict[tuple, list[dict]] = {}
    for r in ratios:
        groups.setdefault((r["gpu"], r["kernel"], r["pass"], r["headdim"]), []).append(r)
    lines = []
    for key, members in groups.items():
        gaps = [abs(r["measured"] - r["predicted"]) for r in members]
        far = members[gaps.index(max(gaps))]
        where = f"(batch {far['batch']}, {far['seqlen_kv']:,} keys)"
        lines.append((*key, len(members), f"{sum(gaps) / len(gaps):.2f}",
                      f"{far['measured']:.2f} / {far['predicted']:.2f} {where}"))
    if not lines:
        return None
    return table(("gpu", "kernel", "pass", "d", "pairs", "mean |gap|", "farthest: measured / predicted"), lines,
                 title="causal time / non-causal time of the same shape (the model's masking against the kernel's)")


def _pct(value) -> str:
    return "-" if value is None else f"{value:.1f}%"
