"""Side-by-side comparison figures (fast | DL | routine per map, same slice, same window): the demo's figure here,
the report's example figure (``report/plots.py``) from the same rows of panels (:func:`draw_map_row`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

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


def draw_map_row(fig: Figure, axes: Sequence[Axes], row: Sequence[tuple[str, QuantMap]], z_mm: float,
                 outline: QuantMap | None = None, interpolation: str | None = "nearest",
                 panel_title: str = "{kind} {label}  {columns}×{rows}") -> None:
    """One map kind across methods, one panel per (label, map) of ``row``.

    Args:
        fig: the figure ``axes`` belong to (for the row's colour bar).
        axes: the row's axes; panels fill them in order, the colour bar spans all of them.
        row: (label, map) per panel, all of one kind: each map's slice nearest to ``z_mm`` in the kind's display
            window (e.g. T1 0–4000 ms), at its own resolution over the same extent in mm.
        z_mm: slice-axis position (mm, along the direction's third column).
        outline: a label map (e.g. lesions) outlined in orange on the panels whose grid it shares.
        interpolation: matplotlib's, None for its default.
        panel_title: format of each panel's title (fields kind, label, columns, rows).
    """
    lo, hi = row[0][1].kind.display_range
    image = None
    for ax, (label, qmap) in zip(axes, row, strict=False):  # a short row leaves its last axes empty
        image = ax.imshow(slice_at(qmap, z_mm), cmap="gray", vmin=lo, vmax=hi, extent=extent_mm(qmap),
                          interpolation=interpolation)
        if outline is not None and outline.same_geometry(qmap):
            mask = slice_at(outline, z_mm) > 0
            if mask.any():
                ax.contour(mask, levels=[0.5], colors="orange", linewidths=0.6, extent=extent_mm(qmap),
                           origin="upper")
        ax.set_title(panel_title.format(kind=qmap.kind.value, label=label, columns=qmap.shape[2],
                                        rows=qmap.shape[1]), fontsize=9)
        ax.set_axis_off()
    if image is not None:
        bar = fig.colorbar(image, ax=list(axes), fraction=0.02, pad=0.01)
        bar.set_label(row[0][1].kind.unit)


def comparison_figure(
    rows: Sequence[Sequence[tuple[str, QuantMap]]],
    z_mm: float,
    path: str | Path,
    title: str = "",
    overlay: Sequence[QuantMap | None] | None = None,
) -> Path:
    """The demo's figure: one row per map kind, one column per (label, map), in the kind's display window.

    Args:
        rows: per map kind, the (label, map) panels, e.g. [("fast", T1 fast), ("DL", T1 DL), ("routine", ...)].
        z_mm: slice-axis position (mm) shown in every panel.
        path: the PNG written (atomically).
        title: the figure's title.
        overlay: per row, a label map outlined on the panels that share its grid (or None).

    Returns:
        ``path``.
    """
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.3 * n_cols + 0.8, 3.3 * n_rows), squeeze=False)
    for r, row in enumerate(rows):
        draw_map_row(fig, list(axes[r]), row, z_mm, overlay[r] if overlay else None)
    if title:
        fig.suptitle(title, fontsize=10)
    with atomic_path(Path(path), suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(path)
