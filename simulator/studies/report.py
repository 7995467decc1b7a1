"""`cascade report DIR`: one page (self-contained HTML, and Markdown) of a sweep or a reproduction: the spec
and versions each sweep ran with, its results table, the rejected points with their reasons, its figures and
the deviations from the paper where the folder lists them. Nothing is sampled: every row is in the tables."""

from __future__ import annotations

import base64
import csv
import html
import json
from pathlib import Path

import yaml

from einsum_cascade.errors import SpecError
from simulator.studies.plots.rows import BYTE_COLUMNS, DESIGN_COLUMNS, point_keys, read_rows, value_label

SWEEP_FILES = ("results.csv", "einsums.csv")  # shown as the sweep's table, not again as files
METRICS = ("latency_s", "energy_pj", "dram_bytes", "util_2d", "util_1d", "area_mm2", "bound")
DEVIATIONS_HEADING = "## Deviations"


def sweep_folders(directory: Path) -> list[Path]:
    """The sweep folders of `directory`: itself (a `cascade sweep` output) or its `sweeps/*` (a reproduction)."""
    if (directory / "results.csv").exists():
        return [directory]
    found = sorted(p.parent for p in directory.glob("sweeps/*/results.csv"))
    if not found:
        raise SpecError("no results.csv here or in sweeps/*/: give a folder written by `cascade sweep` or "
                        "`cascade reproduce`", source=str(directory))
    return found


def build_report(directory: str | Path, out: str | Path | None = None) -> dict:
    """Write report.html and report.md into `out` (default: `directory`); returns what was written."""
    directory = Path(directory)
    if not directory.is_dir():
        raise SpecError("not a folder: give a folder written by `cascade sweep` or `cascade reproduce`",
                        source=str(directory))
    folders = sweep_folders(directory)  # before anything is written
    out = Path(out) if out is not None else directory
    if out.exists() and not out.is_dir():
        raise SpecError(f"{out} is a file, not a folder: name a folder for the report", key="-o")
    out.mkdir(parents=True, exist_ok=True)
    sections = [_sweep_section(folder, out) for folder in folders]
    figures = sorted(directory.glob("*.png"))  # a reproduction's own figures and tables (a sweep's are its rows)
    tables = [(path.name, *_csv(path)) for path in sorted(directory.glob("*.csv"))
              if path.name not in SWEEP_FILES]
    deviations = _deviations(directory)
    title = f"Cascade report: {directory.resolve().name}"
    (out / "report.md").write_text(_markdown(title, tables, sections, figures, deviations, out))
    (out / "report.html").write_text(_html(title, tables, sections, figures, deviations))
    return {"files": [str(out / "report.html"), str(out / "report.md")],
            "sweeps": [{"name": s["name"], "rows": len(s["rows"]), "rejected": len(s["rejected"])} for s in sections],
            "figures": [str(f) for f in figures] + [str(s["figure"]) for s in sections if s["figure"]]}


def _manifest(folder: Path) -> dict:
    """The sweep's manifest, or {} when it has none (the report then says so); a broken one is an error."""
    path = folder / "manifest.json"
    if not path.exists():
        return {}
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise SpecError(f"not JSON: {error.msg} at line {error.lineno}", source=str(path)) from None
    if not isinstance(manifest, dict):
        raise SpecError("a manifest must be a JSON object", source=str(path))
    return {k: v for k, v in manifest.items() if v is not None}


def _sweep_section(folder: Path, out: Path) -> dict:
    manifest = _manifest(folder)
    with (folder / "results.csv").open(newline="") as handle:
        everything = list(csv.DictReader(handle))
    rows = read_rows(folder)
    keys = point_keys(rows) if rows else []
    rejected = [r for r in everything if r.get("status", "ok") != "ok"]
    columns = [*keys, *[m for m in METRICS if rows and m in rows[0]]]
    figure, why = _figure(folder, rows, keys, out)
    return {"name": manifest.get("sweep", folder.name), "folder": folder, "manifest": manifest, "keys": keys,
            "columns": columns, "rows": rows, "rejected": rejected, "figure": figure, "why_no_figure": why}


def _figure(folder: Path, rows: list[dict], keys: list[str], out: Path) -> tuple[Path | None, str]:
    """Latency against the first numeric swept key with several values, a series per other varying key and a
    panel per the next; if the sweep varies more than that, no figure and the reason (never a merged one)."""
    from simulator.studies.plots.xy import xy

    varying = [k for k in keys if len({r[k] for r in rows}) > 1]
    numeric = [k for k in varying if all(isinstance(r[k], float) for r in rows)]
    if not rows or not numeric:
        return None, "no numeric swept key to draw latency against"
    x = "seq_len" if "seq_len" in numeric else numeric[0]
    rest = [k for k in varying if k != x]
    hue = next((k for k in rest if k in DESIGN_COLUMNS), rest[0] if rest else None)
    col = next((k for k in rest if k != hue), None)
    if len(rest) > 2:
        return None, f"the sweep varies {', '.join(varying)}: more than x, series and panels; draw it with " \
                     "`cascade plot --x ... --where ...`"
    path = out / "report-figures" / f"{folder.name}-latency.pdf"
    try:
        xy(rows, x, "latency_s", path, hue, col)
    except SpecError as error:
        return None, error.message
    return path.with_suffix(".png"), ""


def _deviations(directory: Path) -> str:
    readme = directory / "README.md"
    text = readme.read_text() if readme.exists() else ""
    return text[text.index(DEVIATIONS_HEADING):] if DEVIATIONS_HEADING in text else ""


def _cell(column: str, value) -> str:
    """Lengths as 16K and byte sizes with units (as the axes are written), other numbers to 4 significant digits."""
    if not isinstance(value, float):
        return str(value)
    return value_label(column, value) if column == "seq_len" or column in BYTE_COLUMNS else f"{value:.4g}"


def _table_rows(section: dict) -> list[list[str]]:
    return [[_cell(c, r.get(c, "")) for c in section["columns"]] for r in section["rows"]]


def _spec(section: dict) -> str:
    manifest = section["manifest"]
    return yaml.safe_dump(manifest.get("resolved", {}), sort_keys=False).strip()


def _versions(section: dict) -> str:
    manifest = section["manifest"]
    versions = ", ".join(f"{k} {v}" for k, v in manifest.get("versions", {}).items())
    if not manifest:
        return "no manifest.json: the spec and versions are unknown"
    revision = str(manifest.get("git_revision", "?"))[:12]
    return (f"{manifest.get('points', len(section['rows']))} points; git {revision}; "
            f"Python {manifest.get('python', '?')}; {versions}; written {manifest.get('written', '?')}")


def _csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    return (rows[0], rows[1:]) if rows else ([], [])


def _markdown(title: str, tables: list, sections: list[dict], figures: list[Path], deviations: str,
              out: Path) -> str:
    lines = [f"# {title}", ""]
    for name, header, rows in tables:
        lines += [f"## {name}", "", *_md_table(header, rows), ""]
    for figure in figures:
        lines += [f"![{figure.stem}]({_relative(figure, out)})", ""]
    for s in sections:
        lines += [f"## Sweep {s['name']}", "", _versions(s), "", "```yaml", _spec(s), "```", ""]
        if s["figure"]:
            lines += [f"![latency]({_relative(s['figure'], out)})", ""]
        elif s["why_no_figure"]:
            lines += [f"No figure: {s['why_no_figure']}.", ""]
        lines += _md_table(s["columns"], _table_rows(s))
        if s["rejected"]:
            lines += ["", f"### Rejected points ({len(s['rejected'])})", ""]
            lines += _md_table([*s["keys"], "reason"], [[r.get(k, "") for k in [*s["keys"], "reason"]]
                                                        for r in s["rejected"]])
        lines.append("")
    if deviations:
        lines += [deviations.strip(), ""]
    return "\n".join(lines)


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + \
        ["| " + " | ".join(" ".join(str(v).split()).replace("|", "\\|") for v in row) + " |" for row in rows]


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path.resolve())


STYLE = ("body{font-family:sans-serif;max-width:72em;margin:2em auto;padding:0 1em}table{border-collapse:collapse;"
         "font-size:90%}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#f3f3f3}"
         "img{max-width:100%}pre{background:#f7f7f7;padding:1em;overflow:auto}")


def _html(title: str, tables: list, sections: list[dict], figures: list[Path], deviations: str) -> str:
    body = [f"<h1>{html.escape(title)}</h1>"]
    for name, header, rows in tables:
        body += [f"<h2>{html.escape(name)}</h2>", _html_table(header, rows)]
    body += [_img(f) for f in figures]
    for s in sections:
        body += [f"<h2>Sweep {html.escape(s['name'])}</h2>", f"<p>{html.escape(_versions(s))}</p>",
                 f"<pre>{html.escape(_spec(s))}</pre>"]
        if s["figure"]:
            body.append(_img(s["figure"]))
        elif s["why_no_figure"]:
            body.append(f"<p>No figure: {html.escape(s['why_no_figure'])}.</p>")
        body.append(_html_table(s["columns"], _table_rows(s)))
        if s["rejected"]:
            body += [f"<h3>Rejected points ({len(s['rejected'])})</h3>",
                     _html_table([*s["keys"], "reason"], [[r.get(k, "") for k in [*s["keys"], "reason"]]
                                                          for r in s["rejected"]])]
    if deviations:
        body.append(f"<h2>Deviations</h2><pre>{html.escape(deviations)}</pre>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>\n")


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{cells}</table>"


def _img(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f"<p><img alt='{html.escape(Path(path).stem)}' src='data:image/png;base64,{data}'></p>"
