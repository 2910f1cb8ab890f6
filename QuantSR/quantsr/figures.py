"""Side-by-side comparison figures (fast | DL | routine per map, same slice, same window)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .io.atomic import atomic_path  # noqa: E402
from .volume import QuantMap  # noqa: E402


def extent_mm(qmap: QuantMap) -> tuple[float, float, float, float]:
    """Image extent in mm from the pixel edges, so grids of different resolution line up."""
    rows, cols = qmap.shape[1:]
    sx, sy = qmap.spacing[:2]
    return (-0.5 * sx, (cols - 0.5) * sx, (rows - 0.5) * sy, -0.5 * sy)


def slice_at(qmap: QuantMap, z_mm: float) -> np.ndarray:
    """The slice of ``qmap`` nearest to the physical slice-axis position ``z_mm``."""
    normal = qmap.direction[:, 2]
    positions = np.asarray(qmap.origin) @ normal + np.arange(qmap.shape[0]) * qmap.spacing[2]
    return qmap.array[int(np.argmin(np.abs(positions - z_mm)))]


def comparison_figure(
    rows: Sequence[Sequence[tuple[str, QuantMap]]],
    z_mm: float,
    path: str | Path,
    title: str = "",
    overlay: Sequence[QuantMap | None] | None = None,
) -> Path:
    """One row per map kind, one column per (label, map); shared window per row from MapKind."""
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.3 * n_cols + 0.8, 3.3 * n_rows), squeeze=False)
    for r, row in enumerate(rows):
        lo, hi = row[0][1].kind.display_range
        image = None
        for c, (label, qmap) in enumerate(row):
            ax = axes[r][c]
            image = ax.imshow(slice_at(qmap, z_mm), cmap="gray", vmin=lo, vmax=hi, extent=extent_mm(qmap),
                              interpolation="nearest")
            if overlay and overlay[r] is not None and overlay[r].same_geometry(qmap):
                mask = slice_at(overlay[r], z_mm) > 0
                if mask.any():
                    ax.contour(mask, levels=[0.5], colors="orange", linewidths=0.6, extent=extent_mm(qmap),
                               origin="upper")
            ax.set_title(f"{qmap.kind.value} {label}  {qmap.shape[2]}×{qmap.shape[1]}", fontsize=9)
            ax.set_axis_off()
        if image is not None:
            bar = fig.colorbar(image, ax=list(axes[r]), fraction=0.02, pad=0.01)
            bar.set_label(row[0][1].kind.unit)
    if title:
        fig.suptitle(title, fontsize=10)
    with atomic_path(Path(path), suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)
