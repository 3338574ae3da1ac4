"""What every plot shares: sizes, fonts (CJK when installed), a Figure on an Agg canvas, atomic PNG writes."""

from __future__ import annotations

import functools
import io
import math
import os
import warnings
from collections.abc import Sequence
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tunelab.files import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure


DPI = 110
_INCH_PER_LABEL = 0.22
_MIN_INCHES, _MAX_INCHES = 5.0, 30.0
_MAX_ANNOTATED_LABELS = 20
_MAX_TICK_CHARS = 32
_MAX_CELL_CHARS = 28
_LOSS_KEYS = ("loss", "eval_loss")


# Fonts that cover Chinese/Japanese/Korean, tried in order when matplotlib's default (DejaVu Sans,
# Latin only) would draw CJK labels as empty boxes.
_CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Heiti SC",
    "Arial Unicode MS",
    "Noto Sans CJK JP",
)


@functools.lru_cache(maxsize=1)
def _cjk_font() -> str | None:
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    return next((name for name in _CJK_FONTS if name in installed), None)


def _with_fonts(plot):
    """Render with a CJK-capable font first in the fallback list when one is installed; without one,
    CJK glyphs still come out as boxes, and matplotlib's per-glyph warnings are silenced."""

    @functools.wraps(plot)
    def wrapper(*args, **kwargs):
        import matplotlib

        font = _cjk_font()
        settings = (
            {"font.family": ["sans-serif"], "font.sans-serif": [font, *matplotlib.rcParams["font.sans-serif"]]}
            if font
            else {}
        )
        with matplotlib.rc_context(settings), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
            return plot(*args, **kwargs)

    return wrapper


# --- classification ---------------------------------------------------------------------------------


def _tick_font(n: int) -> int:
    return 10 if n <= 12 else 8 if n <= 30 else 6


def _pair_arrays(gold: Any, predicted: Any) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(gold, dtype=float).reshape(-1)
    y = np.asarray(predicted, dtype=float).reshape(-1)
    if x.size == 0 or x.shape != y.shape:
        raise ValueError(f"gold and predicted must be non-empty and of one length, got {x.size} and {y.size}")
    return x, y


def _corner_text(ax: Any, text: str) -> None:
    ax.text(
        0.03, 0.97, text, transform=ax.transAxes, va="top", ha="left", fontsize=9,
        bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8, "edgecolor": "#cccccc"},
    )  # fmt: skip


def _cell(value: Any) -> str:
    text = "-" if value is None else str(value)
    return text if len(text) <= _MAX_CELL_CHARS else text[: _MAX_CELL_CHARS - 1] + "…"


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    fig.clear()
    atomic_write_bytes(buffer.getvalue(), target)
    return target


def _short(label: Any) -> str:
    text = str(label)
    return text if len(text) <= _MAX_TICK_CHARS else text[: _MAX_TICK_CHARS - 1] + "…"


def _label_margin(names: Sequence[str], font: float) -> float:
    """Inches taken by the longest tick label at ``font`` points (about 0.6 em per character)."""
    return max((len(name) for name in names), default=0) * font * 0.6 / 72


def _clip(inches: float, low: float = _MIN_INCHES, high: float = _MAX_INCHES) -> float:
    return float(min(max(inches, low), high))


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged (what Spearman's correlation correlates)."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(values.size, dtype=float)
    ranks[order] = np.arange(values.size, dtype=float)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's correlation; NaN when either side is constant."""
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
