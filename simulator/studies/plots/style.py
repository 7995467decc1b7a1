"""One figure style for every plot: sizes for a two-column paper, fonts, and how files are written."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# IEEE/ACM two-column layouts: one column is about 3.5 in wide, the full text width about 7.1 in.
COLUMN_WIDTH_IN = 3.5
TEXT_WIDTH_IN = 7.1

RC = {
    "font.size": 8,
    "axes.labelsize": 8,
    "axes.titlesize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "pdf.fonttype": 42,  # embed TrueType so the PDF text stays editable
    "savefig.bbox": "tight",
}


def new_figure(width_in: float = COLUMN_WIDTH_IN, height_in: float = 2.3):
    plt.rcParams.update(RC)
    return plt.subplots(figsize=(width_in, height_in))


def save(figure, path: str | Path) -> list[Path]:
    """Write `path` as PDF and a PNG beside it; returns both paths."""
    pdf = Path(path).with_suffix(".pdf")
    pdf.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(pdf, metadata={"CreationDate": None, "Producer": None})  # same bytes for the same data
    png = pdf.with_suffix(".png")
    figure.savefig(png, dpi=200, metadata={"Software": None})
    plt.close(figure)
    return [pdf, png]


def token_label(n: float) -> str:
    """A sequence length as an axis label: 1K, 64K, 1M (powers of two), or the plain number below 1024."""
    n = int(n)
    return f"{n >> 20}M" if n >= 1 << 20 else f"{n >> 10}K" if n >= 1024 else str(n)
