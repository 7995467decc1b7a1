"""One figure style for every plot: sizes for a two-column paper, fonts, and how files are written."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# IEEE/ACM two-column layouts: one column is about 3.5 in wide, the full text width about 7.1 in.
COLUMN_WIDTH_IN = 3.5
TEXT_WIDTH_IN = 7.1

# One colour per design in every figure (colour-blind-safe Okabe-Ito palette); other series take the rest.
DESIGN_COLOURS = {"unfused": "#999999", "flat": "#E69F00", "fusemax": "#0072B2",
                  "fusemax-cascade-on-flat-hw": "#56B4E9", "fusemax-cascade-on-flat-hw-artifact": "#CC79A7",
                  "fusemax-no-binding": "#009E73", "flat-best": "#D55E00"}
OTHER_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000")
MAX_LABELLED_TICKS = 8
PNG_DPI = 200

RC = {
    "font.size": 8,
    "axes.labelsize": 8,
    "axes.titlesize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.formatter.min_exponent": 4,  # log ticks as 0.6, 2, 100 rather than 6x10^-1 (up to 10^4)
    "pdf.fonttype": 42,  # embed TrueType so the PDF text stays editable
    # STIX: Times-like, as the body text of IEEE and ACM papers; shipped with matplotlib. Its subset embeds in a
    # third of DejaVu Sans's time (the largest single cost of writing a figure's PDF).
    "font.family": "STIXGeneral",
    "mathtext.fontset": "stix",
}


def new_figure(width_in: float = COLUMN_WIDTH_IN, height_in: float = 2.3):
    plt.rcParams.update(RC)
    return plt.subplots(figsize=(width_in, height_in))


def save(figure, path: str | Path) -> list[Path]:
    """Write `path` as PDF and a PNG beside it, both cropped to one tight box (measured once, at the figure's
    PNG's resolution, instead of by a layout pass inside each savefig: a quarter of a figure's time); returns
    both paths."""
    pdf = Path(path).with_suffix(".pdf")
    pdf.parent.mkdir(parents=True, exist_ok=True)
    figure.set_dpi(PNG_DPI)  # text measured at the PNG's resolution: a coarser one overstates rotated labels
    box = figure.get_tightbbox(figure.canvas.get_renderer()).padded(plt.rcParams["savefig.pad_inches"])
    figure.savefig(pdf, bbox_inches=box, metadata={"CreationDate": None, "Producer": None})  # same bytes each run
    png = pdf.with_suffix(".png")
    figure.savefig(png, dpi=PNG_DPI, bbox_inches=box, metadata={"Software": None})
    plt.close(figure)
    return [pdf, png]


def token_label(n: float) -> str:
    """A sequence length as a label: 1K, 64K, 1M where it is a whole multiple of 1024 or 1024^2 (as lengths are
    written), else the plain number (1536 stays 1536)."""
    n = int(n)
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20}M"
    return f"{n >> 10}K" if n >= 1024 and n % 1024 == 0 else str(n)


def palette(values: list) -> list[str]:
    """A colour per value: a design's own colour, else the next of the palette (cycling past eight)."""
    if all(v in DESIGN_COLOURS for v in values):
        return [DESIGN_COLOURS[v] for v in values]
    return [OTHER_COLOURS[n % len(OTHER_COLOURS)] for n in range(len(values))]


def scale_axis(ax, which: str, values: list[float], label=None) -> None:
    """Log scale when positive values span 10x or more (base 2 if all are powers of two), else linear, so that
    no axis shows a single tick; with `label`, one labelled tick per distinct value (up to eight), no minor
    labels, so that nothing overprints."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    axis = ax.xaxis if which == "x" else ax.yaxis
    positive = [v for v in values if v > 0]
    distinct = sorted(set(values))
    if len(positive) == len(values) and positive and max(positive) >= 10 * min(positive):
        powers = all(float(v).is_integer() and int(v) & (int(v) - 1) == 0 for v in positive)
        getattr(ax, f"set_{which}scale")("log", base=2 if powers else 10)
        axis.set_minor_formatter(NullFormatter())
    if label is not None and len(distinct) <= MAX_LABELLED_TICKS:
        axis.set_major_locator(FixedLocator(distinct))
        axis.set_major_formatter(FuncFormatter(lambda v, _: label(float(v))))
        axis.set_minor_formatter(NullFormatter())


def stacked_bars(axes, x, heights, bottoms, colour, label: str | None, width: float = 0.8) -> None:
    """Bars of `heights` on `bottoms` at `x` (`colour`: one colour, or a list of one per bar) as one polygon
    collection: as `axes.bar` draws them, with a legend entry, but one artist instead of a patch per bar (a
    breakdown has hundreds, most of a figure's time)."""
    from matplotlib.collections import PolyCollection

    if colour is None:
        raise ValueError("stacked_bars needs a colour (a collection does not take the next of the axes' cycle)")
    left, low, high = np.asarray(x, dtype=float) - width / 2, np.asarray(bottoms), np.asarray(bottoms) + heights
    corners = np.stack([np.stack([left, low], 1), np.stack([left, high], 1), np.stack([left + width, high], 1),
                        np.stack([left + width, low], 1)], 1)
    bars = PolyCollection(corners, facecolors=colour, edgecolors="none", label=label)
    bars.sticky_edges.y.append(0)  # bars stand on the axis, as axes.bar's do
    axes.add_collection(bars)
    axes.autoscale_view()
