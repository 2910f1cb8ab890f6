"""What the page receives from the scene: view images and colour legends as PNG data URLs, and the Logic's
table nodes as records."""

from __future__ import annotations

import base64
import io

import numpy as np
import slicer

LEGEND_SIZE = (256, 14)  # width × height of the colour strip (pixels)


def png_data_url(pixels: np.ndarray) -> str:
    """An (H, W, 3 | 4) uint8 image as a ``data:image/png`` URL (fast compression: it is sent at once)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, "PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def legend_colours(node: slicer.vtkMRMLScalarVolumeNode, samples: int = LEGEND_SIZE[0]) -> np.ndarray:
    """(samples, 3) uint8: the node's colour table from the low to the high end of its display window."""
    display = node.GetDisplayNode()
    colour_node = display.GetColorNode() if display is not None else None
    if colour_node is None:
        return np.repeat(np.linspace(0, 255, samples)[:, None], 3, axis=1).astype(np.uint8)
    table = colour_node.GetLookupTable()
    if table is not None and table.GetNumberOfTableValues() > 0:
        n = table.GetNumberOfTableValues()
        index = np.round(np.linspace(0, n - 1, samples)).astype(int)
        return np.array([[round(255 * c) for c in table.GetTableValue(int(i))[:3]] for i in index], np.uint8)
    mapper = colour_node.GetScalarsToColors()
    low, high = mapper.GetRange()
    return np.array([[round(255 * c) for c in mapper.GetColor(v)] for v in np.linspace(low, high, samples)],
                    np.uint8)


def legend_strip(node: slicer.vtkMRMLScalarVolumeNode | None) -> str:
    """A horizontal colour strip of the node's colour table over its window, as a PNG data URL."""
    if node is None:
        return ""
    colours = legend_colours(node)
    strip = np.repeat(colours[None, :, :], LEGEND_SIZE[1], axis=0)
    return png_data_url(strip)


def table_records(table_node: slicer.vtkMRMLTableNode) -> list[dict]:
    """The rows of a table node the Logic filled (``QuantSRLib.measure.fill_table``): numbers as floats."""
    table = table_node.GetTable()
    columns = [table.GetColumn(c) for c in range(table.GetNumberOfColumns())]
    records = []
    for row in range(table.GetNumberOfRows()):
        record: dict[str, float | str] = {}
        for column in columns:
            if column.IsA("vtkDataArray"):
                record[column.GetName()] = float(column.GetTuple1(row))
            else:
                record[column.GetName()] = str(column.GetValue(row))
        records.append(record)
    return records
