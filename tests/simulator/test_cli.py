"""The `cascade` CLI: JSON keys scripts rely on, and clean exit-2 errors for bad input."""

import contextlib
import json
import subprocess
import sys

import pytest

from einsum_cascade.library import library_names
from simulator.cli.main import main


def run_cli(capsys, *argv):
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_list_cascades_json(capsys):
    status, out, _ = run_cli(capsys, "list", "cascades", "--json")
    assert status == 0
    assert json.loads(out) == library_names()
    assert {"softmax-3pass", "fusemax", "flashattention-2"} <= set(json.loads(out))


def test_analyze_json_keys(capsys):
    status, out, _ = run_cli(capsys, "analyze", "softmax-3pass", "--rank", "M", "--json")
    report = json.loads(out)
    assert status == 0
    assert {"cascade", "rank", "passes", "pass_chain", "footprint", "op_counts"} <= set(report)
    assert report["passes"] == 3 and isinstance(report["passes"], int)
    assert report["pass_chain"] == [["GM", "SN"], ["SD", "A"]]


def test_analyze_with_shapes_evaluates_counts(capsys):
    status, out, _ = run_cli(capsys, "analyze", "softmax-3pass", "--json", "--shape", "M=64K,P=64K,E=64,F=64")
    report = json.loads(out)
    assert report["evaluated"]["per_einsum"]["QK"]["mul"] == 65536 * 65536 * 64


def test_analyze_all_json_has_a_row_per_cascade(capsys):
    status, out, _ = run_cli(capsys, "analyze", "--all", "--json")
    rows = json.loads(out)["rows"]
    assert [r["cascade"] for r in rows] == library_names()


def test_analyze_dot(capsys):
    status, out, _ = run_cli(capsys, "analyze", "fusemax", "--dot")
    assert out.startswith('digraph "fusemax"') and '"RM" -> "SLN"' in out


def test_check_json(capsys):
    status, out, _ = run_cli(capsys, "check", "fusemax", "--json")
    result = json.loads(out)
    assert status == 0 and result["passed"]
    assert any(r["sizes"]["M"] % r["sizes"]["M0"] for r in result["results"])  # M not a multiple of the tile


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("name: [unclosed\n", "malformed YAML"),
        ("name: x\nversion: 1\nranks: {m: M, p: P}\ninputs: ['K[m]']\noutputs: ['S[p]']\neinsums: |\n"
         "  S[p] = K[q]\n", "unknown rank 'q'"),
    ],
)
def test_bad_cascade_file_exits_2_with_one_line(tmp_path, capsys, content, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    status, out, err = run_cli(capsys, "analyze", str(path))
    assert status == 2
    assert expected in err and str(path) in err
    assert "Traceback" not in err


def test_missing_file_exits_2(capsys, tmp_path):
    status, _, err = run_cli(capsys, "check", str(tmp_path / "missing.yaml"))
    assert status == 2 and "file not found" in err


def test_installed_entry_point_reports_errors_without_traceback(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\n")
    result = subprocess.run([sys.executable, "-m", "simulator.cli.main", "check", str(path)], capture_output=True,
                            text=True)
    assert result.returncode == 2
    assert "missing required key" in result.stderr and "Traceback" not in result.stderr


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(capsys, monkeypatch):
    from simulator.cli import list_items

    def broken(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(list_items, "run", broken)
    assert main(["list", "designs"]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("cascade: internal error: ZeroDivisionError: a bug (at ")
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "list", "designs"])


@pytest.mark.parametrize("argv, words", [
    (["check", "fusemax", "--seed", "-1"], "invalid seed value: '-1'"),
    (["map", "--arch", "fusemax", "--cascade", "fusemax", "--shape", "M=1024"],
     "cascade 'fusemax' needs the size of P (rank p), E (rank e), F (rank f)"),
    (["map", "--arch", "fusemax", "--cascade", "decode", "--shape", "M=1024,P=8,E=64,F=64"],
     "P = 8 contradicts cascade 'decode', which fixes P = 1"),
])
def test_bad_options_are_one_line(capsys, argv, words):
    with pytest.raises(SystemExit) if argv[0] == "check" else contextlib.nullcontext():
        assert main(argv) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert words in error[-1] and not any("Traceback" in line for line in error)


def test_a_workload_does_not_override_a_size_the_cascade_fixes(capsys):
    # decode.yaml: params {P: 1} (one query token); bert at 4K would give P = 4096
    assert main(["map", "--arch", "fusemax", "--cascade", "decode", "--workload", "bert", "--seq", "4K",
                 "--budget", "2000", "--no-cache", "--json"]) == 0
    shapes = json.loads(capsys.readouterr().out)["shapes"]
    assert shapes["P"] == 1 and shapes["M"] == 4096
