"""The report's figures: regression + Bland–Altman panels per map (paper Figures 3–4) and example slices
fast | bicubic | DL | routine with a DL − routine difference map."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..figures import draw_map_row, extent_mm, slice_at  # noqa: E402
from ..io.atomic import atomic_path  # noqa: E402
from ..mapkinds import QUANT_KINDS, MapKind  # noqa: E402
from ..volume import QuantMap  # noqa: E402
from .tables import agreement_points  # noqa: E402

LABELS = {"DL": "DL", "routine": "routine", "fast": "fast", "bicubic": "bicubic"}


def _save(fig: plt.Figure, path: Path) -> Path:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png", bbox_inches="tight")
    plt.close(fig)
    return path


def agreement_figure(subjects: list[dict], agreement_rows: list[dict], method: str, reference: str,
                     path: Path) -> Path | None:
    """Top row: method vs reference with the regression and identity lines; bottom row: Bland–Altman of
    percentage differences with the mean bias (solid red) and 95 % limits of agreement (dashed)."""
    rows = {r["map"]: r for r in agreement_rows if r["method"] == method and r["reference"] == reference}
    if not rows:
        return None
    fig, axes = plt.subplots(2, 3, figsize=(13, 8))
    for column, kind in enumerate(QUANT_KINDS):
        key = kind.value
        scatter, bland = axes[0][column], axes[1][column]
        if key not in rows:
            scatter.set_axis_off()
            bland.set_axis_off()
            continue
        x, y = agreement_points(subjects, method, reference, key)
        fit, ba = rows[key]["regression"], rows[key]["bland_altman"]
        scatter.scatter(y, x, s=10, alpha=0.6)
        span = np.array([min(x.min(), y.min()), max(x.max(), y.max())])
        scatter.plot(span, fit["slope"] * span + fit["intercept"], "r-",
                     label=f"y = {fit['slope']:.3f}x + {fit['intercept']:.1f}, R² = {fit['r2']:.3f}")
        scatter.plot(span, span, "k:", lw=0.8, label="identity")
        scatter.set_xlabel(f"{LABELS[reference]} {key} ({kind.unit})")
        scatter.set_ylabel(f"{LABELS[method]} {key} ({kind.unit})")
        scatter.legend(fontsize=8, loc="upper left")
        means = (x + y) / 2
        percent = 100 * (x - y) / means
        bland.scatter(means, percent, s=10, alpha=0.6)
        bland.axhline(ba["bias_pct"], color="red", label=f"bias {ba['bias_pct']:+.2f} %")
        for limit in (ba["loa_low_pct"], ba["loa_high_pct"]):
            bland.axhline(limit, color="black", ls="--", lw=0.8)
        bland.set_title(f"95 % LoA {ba['loa_low_pct']:+.2f} % to {ba['loa_high_pct']:+.2f} %", fontsize=9)
        bland.set_xlabel(f"mean of {LABELS[method]} and {LABELS[reference]} ({kind.unit})")
        bland.set_ylabel(f"({LABELS[method]} − {LABELS[reference]}) / mean (%)")
        bland.legend(fontsize=8, loc="upper right")
    fig.suptitle(f"{LABELS[method]} vs {LABELS[reference]}: tissue and region means per subject")
    fig.tight_layout()
    return _save(fig, path)


def _lesion_slice(lesions: QuantMap | None, reference: QuantMap) -> float:
    """Slice-axis position (mm) through the largest lesion, else the slice with the most head."""
    normal = reference.direction[:, 2]
    base = float(np.asarray(reference.origin) @ normal)
    if lesions is not None and lesions.same_geometry(reference) and (lesions.array > 0).any():
        counts = (lesions.array > 0).sum(axis=(1, 2))
    else:
        counts = (reference.array > 0).sum(axis=(1, 2))
    return base + int(np.argmax(counts)) * reference.spacing[2]


def example_figure(volumes: dict[str, dict[MapKind, QuantMap]], lesions: QuantMap | None, title: str,
                   path: Path) -> Path:
    """Rows T1 / T2 / PD; columns fast | bicubic | DL | routine (shared window) | DL − routine."""
    columns = [m for m in ("fast", "bicubic", "DL", "routine") if m in volumes]
    reference = volumes["routine"][MapKind.T1]
    z_mm = _lesion_slice(lesions, reference)
    compare = "DL" if "DL" in volumes else "bicubic"
    fig, axes = plt.subplots(3, len(columns) + 1, figsize=(3.1 * (len(columns) + 1) + 1, 9.6), squeeze=False)
    for row, kind in enumerate(QUANT_KINDS):
        lo, hi = kind.display_range
        draw_map_row(fig, list(axes[row][: len(columns)]), [(method, volumes[method][kind]) for method in columns],
                     z_mm, lesions, interpolation=None, panel_title="{kind} {label} ({columns}×{rows})")
        difference = slice_at(volumes[compare][kind], z_mm) - slice_at(volumes["routine"][kind], z_mm)
        limit = 0.1 * (hi - lo)
        ax = axes[row][-1]
        shown = ax.imshow(difference, cmap="RdBu_r", vmin=-limit, vmax=limit, extent=extent_mm(reference))
        ax.set_title(f"{kind.value} {compare} − routine", fontsize=9)
        ax.set_axis_off()
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02).set_label(kind.unit)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)

