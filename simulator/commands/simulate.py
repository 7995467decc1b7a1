"""`cascade simulate`: one design point (arch + mapping + workload + sequence length)."""

from __future__ import annotations

from simulator.designs import simulate_on
from simulator.output import format_number, print_json
from workloads.zoo import parse_seq_len


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("simulate", help="simulate one mapping of a cascade on an architecture")
    parser.add_argument("--arch", required=True, help="architecture preset or YAML file (spatial array or GPU)")
    parser.add_argument("--mapping", required=True, help="mapping preset or YAML file (names its cascade)")
    parser.add_argument("--workload", required=True, help="model, e.g. bert, trxl, t5, xlm, llama3-8b")
    parser.add_argument("--seq", required=True, help="sequence length, e.g. 4096, 64K, 1M")
    parser.add_argument("--batch", type=int, help="batch size (default: the model's)")
    parser.add_argument("--end-to-end", action="store_true", help="add the layer's projections and FFN GEMMs")
    parser.add_argument("--timing", choices=("ideal", "systolic"), default="ideal",
                        help="ideal (as the FuseMax paper) or systolic (per-fold fill and drain of 2D MACs)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=run)


def run(args) -> int:
    row = simulate_on(args.arch, args.mapping, args.workload, parse_seq_len(args.seq), design=args.mapping,
                      end_to_end=args.end_to_end, batch=args.batch, timing=args.timing)
    if args.json:
        print_json(row)
        return 0
    if "achieved_tflops" in row:  # a GPU point (simulate_on chose the model by the arch)
        from simulator.gpu.point import format_gpu_point

        print(format_gpu_point(row))
        return 0
    print(f"{row['design']} on {row['arch']}: {row['workload']} at {row['seq_len']} tokens ({row['scope']})")
    for key in ("latency_s", "energy_pj", "dram_bytes", "util_2d", "util_1d", "area_mm2", "bound"):
        print(f"  {key:<12} {format_number(row[key])}")
    print("  passes       cascade lower bound " + str(row["pass_lower_bound"]) + "; measured " + ", ".join(
        f"{t}: DRAM {v['dram_reads_per_element']:.3g}x, buffer {v['buffer_reads_per_element']:.3g}x"
        for t, v in row["measured_passes"].items()))
    print("  occupancy    " + ", ".join(f"{k} {format_number(v)} B" for k, v in row["occupancy_bytes"].items()))
    shares = sorted(row["einsum_share"].items(), key=lambda kv: -kv[1])
    print("  time share   " + ", ".join(f"{name} {share:.1%}" for name, share in shares))
    return 0
