"""Issue 17's catalogue of bad inputs in one place: every input the issue names, run through the CLI in-process
(`simulator.cli.main.main`), with the issue's "before" beside it.

Each bad input exits 2 with exactly one `cascade: error:` line (an argparse error: its usage and one error line,
exit 2), within BOUND_S, and never prints a traceback. An input whose complaint was a silent wrong result and that
is in fact valid exits 0, and the case checks the now-correct result. Ids read `class/input`, the classes being
the issue's: traceback, hang, silent-wrong, accepted-silently; `names/...` is item 6: a near miss of each kind of
name (arch preset, GPU, design, workload, mapping, GPU kernel, library cascade, a sweep's values) is refused with
"did you mean" and the right suggestion, never picked.

Most cases are also tested, in more detail, next to their code (tests/einsum_cascade/test_input_limits.py,
test_spec_header.py, test_mask_density_checks.py, test_validation.py; tests/simulator/test_cli.py, test_sweeps.py,
test_sweep_limits.py, test_sweep_arithmetic.py, test_plot_points.py, test_mapping_cross_refs.py;
tests/gpu/test_gpu_bad_data.py, test_gpu_names.py). The whole file runs in about 15 s.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from spec_errors import run_cli

from einsum_cascade.check import SHAPE_SETS

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "einsum_cascade" / "library"
BOUND_S = 5.0  # per case; the complaints were hangs of minutes to hours
MEASUREMENTS = ROOT / "simulator" / "studies" / "gpu_validation" / "data" / "gpu_attention_measurements.csv"

SMALL_SWEEP = """version: 1
name: small
base: {workload: bert, seq_len: 1K, scope: attention}
axes:
  design: [flat, fusemax]
  arch.pe_dim: [128, 256]
"""
DERIVED_SWEEP = """version: 1
name: derived
base: {{arch: fusemax, workload: bert, seq_len: 1K, mapping: fusemax}}
axes: {{arch.pe_dim: [16, 32]}}
derived: {{arch.lanes: "{expression}"}}
"""
TEN = "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"
MILLION_AXES = ("batch", "arch.pe_dim", "arch.lanes", "arch.clock_hz", "arch.global_buffer_bytes",
                "arch.dram_bandwidth_bytes_per_s")  # 10 ** 6 points
MILLION_SWEEP = ("version: 1\nname: million\nbase: {design: fusemax, workload: bert, seq_len: 1K, scope: attention}\n"
                 "axes: {" + ", ".join(f"{key}: {TEN}" for key in MILLION_AXES) + "}\n")


def _replaced(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def _header(path: Path, key: str, value: str) -> str:
    """The file with its top-level `key:` line set to `value`."""
    text, count = re.subn(f"^{key}:.*$", f"{key}: {value}", path.read_text(), count=1, flags=re.M)
    assert count == 1, (path, key)
    return text


def _row(gpu: str = "H100-SXM5-80GB", kernel: str = "FA2", seqlen: int = 512) -> str:
    """A measurement row in the shipped CSV's columns (test_gpu_bad_data.py's)."""
    return f"{gpu},{kernel},fwd,False,64,32,32,1,{seqlen},{seqlen},fp16,36.0,TFLOPs/s,x,y"


def _input_files() -> dict[str, str]:
    """name -> text of every input file the cases read."""
    softmax = (LIBRARY / "softmax-3pass.yaml").read_text()
    causal = (LIBRARY / "softmax-3pass-causal.yaml").read_text()
    fusemax = (LIBRARY / "fusemax.yaml").read_text()
    density = 'density: "(P+1)/(2*P)"'
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(  # 9**10 values from 10 lines
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(9))
    header = MEASUREMENTS.read_text().splitlines()[0]
    files = {
        "deep-flow.yaml": "name: " + "[" * 5000 + "]" * 5000 + "\n",
        "deep-block.yaml": "".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "x: 1\n",
        "expr-5000.yaml": _replaced(softmax, "AV[f,p] = A[m,p] * V[f,m]",
                                    "AV[f,p] = " + " + ".join(["A[m,p] * V[f,m]"] * 5000)),
        "expr-deep.yaml": _replaced(softmax, "SD[p] = SN[m,p]", "SD[p] = " + "+".join(["SN[m,p]"] * 1200)),
        "density-div0.yaml": _replaced(causal, density, 'density: "1/(P-P)"'),
        "density-unknown.yaml": _replaced(causal, density, 'density: "(Q+1)/(2*P)"'),
        "density-above-1.yaml": _replaced(causal, density, 'density: "2"'),
        "reference-bias.yaml": _replaced(softmax, "reference: softmax", "reference: softmax_bias"),
        "big.yaml": softmax + "# " + "x" * (5 * 2**20) + "\n",
        "bomb.yaml": bomb,
        "M0-2.5.yaml": _replaced(fusemax, "params: {M0: 256}", "params: {M0: 2.5}"),
        # a slope: its value cancels, so the check passes only if LAM is neither 0 (int()) nor a tile size
        "lam.yaml": _replaced(_replaced(softmax, "reference: softmax", "params: {LAM: 0.5}\nreference: softmax"),
                              "A[m,p] = SN[m,p] / SD[p]", "A[m,p] = SN[m,p] * LAM / (SD[p] * LAM)"),
        "fusemax-lam.yaml": _replaced(_replaced(fusemax, "params: {M0: 256}", "params: {M0: 256, LAM: 0.5}"),
                                      "AV[f,p] = RNV[M1,f,p] / RD[M1,p]",
                                      "AV[f,p] = RNV[M1,f,p] * LAM / (RD[M1,p] * LAM)"),
        "homes-nope.yaml": _replaced((ROOT / "mappers" / "presets" / "fusemax.yaml").read_text(),
                                     "RM: buffer, RD: buffer", "RM: buffer, NOPE: buffer, RD: buffer"),
        "small.yaml": SMALL_SWEEP,
        "other.yaml": _replaced(_replaced(SMALL_SWEEP, "name: small", "name: other"), "[128, 256]", "[64, 128]"),
        "div0.yaml": DERIVED_SWEEP.format(expression="pe_dim / 0"),
        "pow-2000.yaml": DERIVED_SWEEP.format(expression="2 ** 2000"),
        "pow-9-9-9.yaml": DERIVED_SWEEP.format(expression="9 ** 9 ** 9"),
        "million.yaml": MILLION_SWEEP,
        "sweep-typo.yaml": _replaced(SMALL_SWEEP, "[flat, fusemax]", "[flat, fusemx]"),
        "header-only.csv": header + "\n",
        "unknown-gpu.csv": f"{header}\n{_row(gpu='GPU-9000')}\n",
        "unknown-kernel.csv": f"{header}\n{_row(kernel='FA9')}\n",
        "huge-seqlen.csv": f"{header}\n{_row(seqlen=99999999999)}\n",
        "h20.csv": f"{header}\n{_row(gpu='H20')}\n",
        "gpu-typo.csv": f"{header}\n{_row(gpu='H100-SXM5-80G')}\n",
        "kernel-typo.csv": f"{header}\n{_row(kernel='FlashAtention-2')}\n",
        "existing.txt": "a file where a folder is expected\n",
    }
    for kind, path in (("cascade", LIBRARY / "softmax-3pass.yaml"),
                       ("arch", ROOT / "arch_models" / "presets" / "fusemax.yaml"),
                       ("mapping", ROOT / "mappers" / "presets" / "fusemax.yaml"),
                       ("gpu", ROOT / "arch_models" / "gpu_presets" / "h100-sxm5-80gb.yaml"),
                       ("gpu-mapping", ROOT / "mappers" / "gpu_presets" / "fa2.yaml")):
        files[f"{kind}-version-99.yaml"] = _header(path, "version", "99")
        files[f"{kind}-name-list.yaml"] = _header(path, "name", "[1, 2]")
    files["sweep-version-99.yaml"] = _replaced(SMALL_SWEEP, "version: 1", "version: 99")
    files["sweep-name-list.yaml"] = _replaced(SMALL_SWEEP, "name: small", "name: [1, 2]")
    return files


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    for name, text in _input_files().items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture(scope="module")
def results(data, tmp_path_factory) -> Path:
    """The smallest sweep results folder that shows every plot complaint: designs flat and fusemax at two array
    sizes (4 points, under a second); `flat-only/` beside it holds its flat rows alone."""
    from simulator.studies.sweeps.runner import run_sweep
    from simulator.studies.sweeps.spec import load_sweep

    folder = tmp_path_factory.mktemp("results") / "small"
    assert run_sweep(load_sweep(str(data / "small.yaml")), folder, progress=False)["run"] == 4
    with (folder / "results.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    flat_only = folder.parent / "flat-only"
    flat_only.mkdir()
    with (flat_only / "results.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(r for r in rows if r["design"] == "flat")
    return folder


@dataclass
class Context:
    data: Path
    results: Path
    tmp: Path
    bars: list  # heights of every bar drawn (cases with record_bars)


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]  # {data}: the input files, {results}: the sweep folder, {out}: an empty folder
    before: str  # what the issue says happened
    words: str | tuple[str, ...] = ""  # in the one error line ({data} is the inputs' folder)
    status: int = 2
    check: Callable[[str, Context], None] | None = None  # status 0: the now-correct result, from stdout
    argparse: bool = False
    record_bars: bool = False


# ---- checks of the inputs that are valid (the complaint was a silent wrong result) -----------------------------

def _check_passes_with_lam(out: str, ctx: Context) -> None:
    report = json.loads(out)
    assert report["passed"] and all(r["sizes"]["LAM"] == 0.5 for r in report["results"])


def _check_keeps_slope_scales_tile(out: str, ctx: Context) -> None:
    report = json.loads(out)
    assert report["passed"]
    assert [r["sizes"]["LAM"] for r in report["results"]] == [0.5] * len(SHAPE_SETS)  # not the tile size
    assert [r["sizes"]["M0"] for r in report["results"]] == [s["tile"] for s in SHAPE_SETS]  # a tile: scaled


def _check_decode_keeps_p_1(out: str, ctx: Context) -> None:
    shapes = json.loads(out)["shapes"]
    assert shapes["P"] == 1 and shapes["M"] == 4096  # decode.yaml's params {P: 1}; bert at 4K gave P = 4096


def _check_figure_inside_the_folder(out: str, ctx: Context) -> None:
    assert json.loads(out)["files"] == [str(ctx.tmp / "speedup.pdf"), str(ctx.tmp / "speedup.png")]
    assert (ctx.tmp / "speedup.pdf").exists() and not ctx.tmp.with_suffix(".pdf").exists()


def _check_two_bars_not_merged(out: str, ctx: Context) -> None:
    with (ctx.results / "results.csv").open(newline="") as handle:
        latency = {(r["design"], float(r["arch.pe_dim"])): float(r["latency_s"]) for r in csv.DictReader(handle)}
    speedups = [latency["flat", pe] / latency["fusemax", pe] for pe in (128.0, 256.0)]
    assert ctx.bars == [pytest.approx(speedups)]  # one series (fusemax over flat), one bar per array size


def _check_h20_is_h20(out: str, ctx: Context) -> None:
    [row] = json.loads(out)["rows"]
    assert row["gpu"] == "H20" and row["gpu_preset"] == "h20" and row["modelled"]  # not h200 (a prefix)


def _check_eight_kv_heads(out: str, ctx: Context) -> None:
    [point] = json.loads(out)["points"]
    assert point["problem"]["heads"] == 32 and point["problem"]["kv_heads"] == 8
    tokens, head_dim, word = 1024, 128, 2
    q_o = 2 * 32 * tokens * head_dim * word
    kv_8, kv_32 = 2 * 8 * tokens * head_dim * word, 2 * 32 * tokens * head_dim * word
    assert point["dram_bytes"] == pytest.approx(q_o + kv_8, rel=0.01)  # (+ the fp32 row statistics)
    assert point["dram_bytes"] < 0.7 * (q_o + kv_32)


SWEEP = ("sweep", "{data}/small.yaml", "-o")
PLOT = ("plot", "{results}", "--kind", "speedup")
MAP = ("map", "--arch", "fusemax", "--budget", "20", "--no-cache")
RUN_BERT = ("--workload", "bert", "--seq", "1K")

CASES = [
    # ---- tracebacks --------------------------------------------------------------------------------------------
    Case("traceback/deep-yaml-flow", ("analyze", "{data}/deep-flow.yaml"), "RecursionError",
         "nested more than 64 levels deep"),
    Case("traceback/deep-yaml-block", ("analyze", "{data}/deep-block.yaml"), "RecursionError",
         "nested more than 64 levels deep"),
    Case("traceback/expression-5000-terms", ("analyze", "{data}/expr-5000.yaml"), "RecursionError while parsing",
         "more than the limit of 10,000"),
    Case("traceback/expression-1200-deep", ("analyze", "{data}/expr-deep.yaml"), "RecursionError while parsing",
         "nested more than 200"),
    Case("traceback/density-divides-by-zero-analyze",
         ("analyze", "{data}/density-div0.yaml", "--shape", "M=64,P=64,E=64,F=64"),
         "TypeError: Cannot convert complex to float", "density '1/(P-P)' is nan at"),
    Case("traceback/density-divides-by-zero-map",
         (*MAP, "--cascade", "{data}/density-div0.yaml", "--shape", "M=64,P=64,E=64,F=64"),
         "TypeError: Cannot convert complex to float", "density '1/(P-P)' is nan at"),
    Case("traceback/reference-lacks-input", ("check", "{data}/reference-bias.yaml"), "KeyError: 'BIAS'",
         "reference 'softmax_bias' reads BIAS, which this cascade does not have"),
    Case("traceback/dask-scheduler-unreachable",
         (*SWEEP, "{out}/o", "--scheduler", "tcp://127.0.0.1:1", "--scheduler-timeout", "1", "--json"),
         "30 s hang, then a 55-line traceback", "cannot reach the dask scheduler 'tcp://127.0.0.1:1' within 1 s"),
    Case("traceback/plot-baseline-fusemax-absent",
         ("plot", "{results}/../flat-only", "--kind", "speedup", "--baseline", "fusemax", "-o", "{out}/f.pdf"),
         "traceback", "baseline 'fusemax' is not among the designs flat"),
    Case("traceback/map-shape-without-P", (*MAP, "--cascade", "fusemax", "--shape", "M=1024"), "KeyError: 'P'",
         "cascade 'fusemax' needs the size of P (rank p), E (rank e), F (rank f)"),
    Case("traceback/check-seed-minus-1", ("check", "fusemax", "--seed", "-1"), "numpy ValueError traceback",
         "argument --seed: invalid seed value: '-1'", argparse=True),
    Case("traceback/sweep-derived-divide-by-0", ("sweep", "{data}/div0.yaml", "-o", "{out}/o"), "ZeroDivisionError",
         "derived.arch.lanes: 'pe_dim / 0', pe_dim = 16: division by zero"),
    Case("traceback/sweep-derived-2**2000", ("sweep", "{data}/pow-2000.yaml", "-o", "{out}/o"), "OverflowError",
         "'2 ** 2000': 2 ** 2000 is larger than 2 ** 1024"),
    Case("traceback/sweep-o-existing-file", (*SWEEP, "{data}/existing.txt"), "FileExistsError",
         "-o: {data}/existing.txt is a file, not a folder"),
    Case("traceback/sweep-o-unwritable", (*SWEEP, "{data}/existing.txt/sub"), "NotADirectoryError",
         "-o: cannot create {data}/existing.txt/sub: Not a directory"),
    Case("traceback/reproduce-o-existing-file", ("reproduce", "fusemax", "-o", "{data}/existing.txt", "--json"),
         "FileExistsError", "-o: {data}/existing.txt is a file, not a folder"),
    Case("traceback/demo-o-unwritable", ("demo", "-o", "{data}/existing.txt/sub", "--json"), "NotADirectoryError",
         "-o: cannot create {data}/existing.txt/sub: Not a directory"),
    Case("traceback/plot-o-unwritable", (*PLOT, "--baseline", "flat", "-o", "{data}/existing.txt/f.pdf"),
         "NotADirectoryError", "-o: cannot create {data}/existing.txt: File exists"),
    Case("traceback/validate-gpu-seqlen-99999999999", ("validate-gpu", "--data", "{data}/huge-seqlen.csv"),
         "tried to allocate 93 TiB", "needs 1.638e+06 GB for Q, K, V and O; h100-sxm5-80gb has 80 GB of HBM"),
    Case("traceback/plot-baseline-only-design",
         ("plot", "{results}/../flat-only", "--kind", "speedup", "--baseline", "flat", "-o", "{out}/f.pdf"),
         "ZeroDivisionError / empty figure", "the baseline 'flat' is the only design in these results"),
    # ---- hangs -------------------------------------------------------------------------------------------------
    Case("hang/cascade-file-5MB", ("analyze", "{data}/big.yaml"), "262 s",
         "file is 5,243,"),
    Case("hang/yaml-alias-bomb", ("analyze", "{data}/bomb.yaml"), "more than 60 s, then MemoryError",
         "YAML expands to more than 200,000 values"),
    Case("hang/sweep-derived-9**9**9", ("sweep", "{data}/pow-9-9-9.yaml", "-o", "{out}/o"), "runs for hours",
         "'9 ** 9 ** 9': 9 ** 387420489 is larger than 2 ** 1024"),
    # ---- silent wrong results ----------------------------------------------------------------------------------
    Case("silent-wrong/params-M0-2.5", ("analyze", "{data}/M0-2.5.yaml"), "M0 truncated to 2 by int()",
         "params.M0: tile size M0 = 2.5 must be a positive integer"),
    Case("silent-wrong/params-LAM-0.5", ("check", "{data}/lam.yaml", "--json"), "LAM truncated to 0 by int()",
         status=0, check=_check_passes_with_lam),
    Case("silent-wrong/check-non-rank-param", ("check", "{data}/fusemax-lam.yaml", "--json"),
         "check gave every non-rank param the tile size", status=0, check=_check_keeps_slope_scales_tile),
    Case("silent-wrong/density-unknown-symbol", ("analyze", "{data}/density-unknown.yaml"), "accepted",
         "density '(Q+1)/(2*P)': unknown symbol Q"),
    Case("silent-wrong/density-above-1-analyze",
         ("analyze", "{data}/density-above-1.yaml", "--shape", "M=64,P=64,E=64,F=64"), "accepted (counts x 2)",
         "density '2' is 2 at"),
    Case("silent-wrong/density-above-1-map",
         (*MAP, "--cascade", "{data}/density-above-1.yaml", "--shape", "M=64,P=64,E=64,F=64"), "accepted",
         "density '2' is 2 at"),
    Case("silent-wrong/homes-unknown-tensor",
         ("simulate", "--arch", "fusemax", "--mapping", "{data}/homes-nope.yaml", *RUN_BERT), "ignored",
         "homes names NOPE, which is not a tensor of cascade fusemax"),
    Case("silent-wrong/other-sweep-into-results", ("sweep", "{data}/other.yaml", "-o", "{results}", "--json"),
         "rows appended under the old header, manifest replaced",
         "holds the results of another sweep ('small' from"),
    Case("silent-wrong/plot-o-existing-folder", (*PLOT, "--baseline", "flat", "-o", "{out}", "--json"),
         "wrote DIR.pdf beside the folder", status=0, check=_check_figure_inside_the_folder),
    Case("silent-wrong/map-decode-seq-4K",
         (*MAP, "--cascade", "decode", "--workload", "bert", "--seq", "4K", "--json"),
         "the workload's P = 4096 replaced the cascade's P: 1", status=0, check=_check_decode_keeps_p_1),
    Case("silent-wrong/sweep-10**6-points", ("sweep", "{data}/million.yaml", "-o", "{out}/o"),
         "started, 288-hour ETA", "the axes expand to 1,000,000 points, more than max_points = 100,000"),
    Case("silent-wrong/validate-gpu-H20-row", ("validate-gpu", "--data", "{data}/h20.csv", "--json"),
         "simulated on the h200 preset (prefix match)", status=0, check=_check_h20_is_h20),
    Case("silent-wrong/plot-two-points-one-bar", (*PLOT, "--baseline", "flat", "-o", "{out}/s.pdf"),
         "two array sizes merged into one bar", status=0, check=_check_two_bars_not_merged, record_bars=True),
    Case("silent-wrong/compare-gqa-kv-heads",
         ("compare", "--arch", "h100", "--designs", "fa2", "--workloads", "llama3-8b", "--seq", "1K", "--json"),
         "32 K/V heads counted for a model with 8", status=0, check=_check_eight_kv_heads),
    # ---- accepted silently -------------------------------------------------------------------------------------
    *[Case(f"accepted-silently/{kind}-{key}", (*argv(f"{{data}}/{kind}-{key}.yaml"),), "accepted", words)
      for kind, argv in (
          ("cascade", lambda f: ("analyze", f)),
          ("arch", lambda f: ("simulate", "--arch", f, "--mapping", "fusemax", *RUN_BERT)),
          ("mapping", lambda f: ("simulate", "--arch", "fusemax", "--mapping", f, *RUN_BERT)),
          ("gpu", lambda f: ("simulate", "--arch", f, "--mapping", "fa2", *RUN_BERT)),
          ("gpu-mapping", lambda f: ("simulate", "--arch", "h100", "--mapping", f, *RUN_BERT)),
          ("sweep", lambda f: ("sweep", f, "-o", "{out}/o")))
      for key, words in (("version-99", "version = 99 is not a supported version (supported: 1)"),
                         ("name-list", "name = [1, 2] must be non-empty text"))],
    Case("accepted-silently/validate-gpu-unknown-gpu", ("validate-gpu", "--data", "{data}/unknown-gpu.csv"),
         "exit 0, empty tables", "none of its 1 rows is modelled: no GPU preset named 'GPU-9000'"),
    Case("accepted-silently/validate-gpu-unknown-kernel", ("validate-gpu", "--data", "{data}/unknown-kernel.csv"),
         "exit 0, empty tables", "none of its 1 rows is modelled: no GPU mapping named 'FA9'"),
    Case("accepted-silently/validate-gpu-header-only", ("validate-gpu", "--data", "{data}/header-only.csv"),
         "exit 0, empty tables", "no measurement rows (only a header)"),
    # ---- item 6: names resolve exactly; a near miss is a suggestion, never a pick ------------------------------
    Case("names/arch-preset", ("simulate", "--arch", "fusemx", "--mapping", "fusemax", *RUN_BERT), "already suggested",
         "no architecture named 'fusemx' (did you mean 'fusemax'?)"),
    Case("names/gpu-arch", ("simulate", "--arch", "h100-sxm5-80g", "--mapping", "fa2", *RUN_BERT),
         "no suggestion (a spatial-presets list)", "no architecture named 'h100-sxm5-80g' (did you mean "
         "'h100-sxm5-80gb'?)"),
    Case("names/gpu-calibrate-on", ("validate-gpu", "--data", "{data}/h20.csv", "--calibrate-on", "A100-SXM4"),
         "no suggestion", "--calibrate-on: no GPU preset named 'A100-SXM4' (did you mean 'a100-sxm4-80gb'?)"),
    Case("names/gpu-in-measurements", ("validate-gpu", "--data", "{data}/gpu-typo.csv"), "no suggestion",
         "no GPU preset named 'H100-SXM5-80G' (did you mean 'h100-sxm5-80gb'?)"),
    Case("names/design", ("compare", "--designs", "flat,fusemx", "--workloads", "bert", "--seq", "1K"),
         "already suggested", "--designs: no design named 'fusemx' (did you mean 'fusemax'?)"),
    Case("names/workload", ("simulate", "--arch", "fusemax", "--mapping", "fusemax", "--workload", "bertt",
                            "--seq", "1K"), "already suggested", "no model named 'bertt' (did you mean 'bert'?)"),
    Case("names/workload-alias", ("simulate", "--arch", "fusemax", "--mapping", "fusemax", "--workload",
                                  "meta-llama-3-8", "--seq", "1K"), "no suggestion (aliases not searched)",
         "no model named 'meta-llama-3-8' (did you mean 'meta-llama-3-8b'?)"),
    Case("names/mapping", ("simulate", "--arch", "fusemax", "--mapping", "fusemx", *RUN_BERT), "already suggested",
         "--mapping: no mapping named 'fusemx' (did you mean 'fusemax'?)"),
    Case("names/gpu-mapping", ("simulate", "--arch", "h100", "--mapping", "fa22", *RUN_BERT), "already suggested",
         "--mapping: no GPU mapping named 'fa22' (did you mean 'fa2'?)"),
    Case("names/gpu-kernel", ("map", "--arch", "h100", "--kernel", "fa22", *RUN_BERT), "already suggested",
         "--mappings: no GPU mapping named 'fa22' (did you mean 'fa2'?)"),
    Case("names/gpu-kernel-in-measurements", ("validate-gpu", "--data", "{data}/kernel-typo.csv"), "no suggestion",
         "no GPU mapping named 'FlashAtention-2' (did you mean 'flashattention-2'?)"),
    Case("names/library-cascade", ("analyze", "fusemx"), "already suggested",
         "no cascade named 'fusemx' (did you mean 'fusemax'?)"),
    Case("names/sweep-design", ("sweep", "{data}/sweep-typo.yaml", "-o", "{out}/o"), "no suggestion",
         ("axes.design.1: 'fusemx' is not one of fusemax, flat", "(did you mean 'fusemax'?)")),
]


def run_case(case: Case, ctx: Context, capsys) -> tuple[int, str, str, float]:
    """(exit status, stdout, stderr, seconds) of the case's command, in this process."""
    fields = {"data": ctx.data, "results": ctx.results, "out": ctx.tmp}
    return run_cli([part.format(**fields) for part in case.argv], capsys)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_every_named_bad_input(case, data, results, tmp_path, capsys, monkeypatch):
    ctx = Context(data, results, tmp_path, [])
    if case.record_bars:  # every bar figure draws through style.stacked_bars
        import simulator.studies.plots.style as style

        bars = style.stacked_bars

        def recording(axes, x, heights, *args, **kwargs):
            ctx.bars.append(list(heights))
            return bars(axes, x, heights, *args, **kwargs)

        monkeypatch.setattr(style, "stacked_bars", recording)
    before = {name: (results / name).read_text() for name in ("results.csv", "manifest.json")}
    status, out, err, seconds = run_case(case, ctx, capsys)
    assert "Traceback" not in out + err
    assert seconds < BOUND_S, f"{seconds:.1f} s"
    assert status == case.status, err
    lines = err.strip().splitlines()
    if case.argparse:  # usage, then one error line
        assert lines[0].startswith("usage: cascade ") and len(lines) <= 3
        assert re.match(r"cascade \S+: error: ", lines[-1]) and case.words in lines[-1], lines
    elif case.status == 2:
        assert len(lines) == 1, lines
        words = (case.words,) if isinstance(case.words, str) else case.words
        assert lines[0].startswith("cascade: error: "), lines[0]
        assert all(w.format(data=data) in lines[0] for w in words), lines[0]
    else:
        assert lines == [], lines
        case.check(out, ctx)
    # no case touches the shared results folder (the other sweep is refused before anything is written)
    assert {name: (results / name).read_text() for name in before} == before
