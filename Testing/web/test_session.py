"""The review session behind the page, without a browser (slicer-core scene): linked views that zoom, pan and
step slices together, ROI boxes placed from a view pixel, windows, errors as InputError, and `quantsr view`'s
command line (host warning, a missing PATH) with the server itself stubbed out."""

from __future__ import annotations

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="the slicer-core wheel is not installed")

from quantsr.cli import main  # noqa: E402
from quantsr.errors import InputError  # noqa: E402
from quantsr.io.images import write_image  # noqa: E402
from quantsr.mapkinds import QUANT_KINDS, MapKind  # noqa: E402
from quantsr.view.session import ReviewSession  # noqa: E402
from quantsr.view.studies import open_catalog  # noqa: E402
from quantsr.volume import QuantMap  # noqa: E402

FOV = 64.0


def _map(kind: MapKind, matrix: int, value: float) -> QuantMap:
    """Three slices over a 64 mm FOV, ``value`` everywhere except 1.5 × value in the square R, A 0–16 mm."""
    pixel = FOV / matrix
    centres = (np.arange(matrix) + 0.5) * pixel - FOV / 2  # LPS
    square = (centres[:, None] >= -16) & (centres[:, None] <= 0) & (centres[None, :] >= -16) & (centres[None, :] <= 0)
    plane = np.where(square, 1.5 * value, value).astype(np.float32)
    return QuantMap(np.stack([plane] * 3), origin=(-FOV / 2 + pixel / 2, -FOV / 2 + pixel / 2, 0.0),
                    spacing=(pixel, pixel, 5.0), kind=kind)


@pytest.fixture
def study(tmp_path):
    for kind, value in zip(QUANT_KINDS, (900.0, 90.0, 70.0), strict=True):
        write_image(_map(kind, 16, value), tmp_path / f"fast_{kind.value}.nrrd")
        write_image(_map(kind, 32, value), tmp_path / f"routine_{kind.value}.nrrd")
    write_image(_map(MapKind.T2, 32, 90.0), tmp_path / "T2_DL.nrrd")
    return tmp_path


def test_linked_views_zoom_pan_slices_and_rois(study) -> None:
    session = ReviewSession(open_catalog(study), size_px=128)
    session.open_study(0)
    assert session.kinds == list(QUANT_KINDS) and session.kind is MapKind.T1
    assert session.slice_positions == [0.0, 5.0, 10.0] and session.slice_index == 1
    frame = session.frame()
    assert [v["title"] for v in frame["views"]] == ["Fast", "DL", "Routine"]
    assert frame["views"][1]["empty"] == "no dl T1 map in this study" and frame["views"][1]["src"] == ""
    assert frame["window"] == [0.0, 4000.0]  # T1's physical window

    roi = session.place_roi(48, 48)  # view pixel (48, 48) of 128 over the fitted 64 mm: R +8, A +8
    assert roi.centre_ras == (8.0, 8.0, 5.0) and roi.size_mm == (10.0, 10.0, 5.0)
    box = session.views.box_on_view(roi.centre_ras, roi.size_mm)
    assert box == pytest.approx({"left": 38.0, "top": 38.0, "width": 20.0, "height": 20.0})  # pixels
    rows = {(r["roi"], r["protocol"]): r for r in session.table()[0]}
    # the same box on both grids: 6 × 6 routine voxels (2 mm), 2 × 2 fast voxels (4 mm), all in the square
    assert rows["R1", "routine"]["voxels"] == 36 and rows["R1", "routine"]["mean"] == pytest.approx(1350.0)
    assert rows["R1", "fast"]["voxels"] == 4 and rows["R1", "fast"]["mean"] == pytest.approx(1350.0)

    session.zoom_by(2.0)  # about the centre: the box doubles and moves away from it
    assert session.views.box_on_view(roi.centre_ras, roi.size_mm) == pytest.approx(
        {"left": 12.0, "top": 12.0, "width": 40.0, "height": 40.0})
    session.pan_pixels(10, -4)  # drag right and up: the picture follows the pointer
    assert session.views.box_on_view(roi.centre_ras, roi.size_mm) == pytest.approx(
        {"left": 22.0, "top": 8.0, "width": 40.0, "height": 40.0})
    session.reset_view()
    assert session.views.box_on_view(roi.centre_ras, roi.size_mm)["left"] == pytest.approx(38.0)
    session.set_slice(99)  # clipped to the last slice, which the 5 mm box misses
    assert session.slice_index == 2 and session.views.box_on_view(roi.centre_ras, roi.size_mm) is None

    session.set_kind("T2")  # DL exists for T2: the middle view shows it, the table too
    assert session.frame()["views"][1]["name"] == "T2 DL"
    assert [r["protocol"] for r in session.table()[0]] == ["fast", "DL", "routine"]
    session.set_window(50, 150)
    assert session.frame()["window"] == [50.0, 150.0]
    session.set_kind("T1")
    assert session.frame()["window"] == [0.0, 4000.0]  # windows are per map
    assert session.csv_text().count("\n") == 1 + 6 + 1  # header, fast and routine of every map, DL T2


def test_bad_settings_are_input_errors(study) -> None:
    session = ReviewSession(open_catalog(study), size_px=64)
    session.open_study(0)
    with pytest.raises(InputError, match="no ROI measured yet"):
        session.csv_text()
    with pytest.raises(InputError, match="low value below the high one"):
        session.set_window(300, 100)
    with pytest.raises(InputError, match="between 0 and 100 %"):
        session.set_trust(True, 250)
    with pytest.raises(InputError, match="needs the fast and the DL T1 map"):
        session.set_trust(True)
    assert session.trust_visible is False
    with pytest.raises(InputError, match="three lengths between 0 and 500 mm"):
        session.set_roi_size([10, -1, 5])
    session.add_roi((0, 0, 5), (4, 4, 4))
    with pytest.raises(InputError, match="no ROI named R7"):
        session.remove_roi("R7")
    session.remove_roi("R1")
    assert session.rois == [] and session.table() == ([], [])


def test_command_warns_when_serving_to_other_machines(study, monkeypatch, capsys) -> None:
    pytest.importorskip("trame", reason="the web extra (trame) is not installed")
    from quantsr.view.app import ViewApp

    served = []
    monkeypatch.setattr(ViewApp, "serve", lambda self, host, port: served.append((host, port)))
    assert main(["view", str(study), "--port", "0"]) == 0
    assert served == [("127.0.0.1", 0)] and "not de-identified" not in capsys.readouterr().err
    assert main(["view", str(study), "--host", "0.0.0.0", "--port", "8765"]) == 0
    assert served[-1] == ("0.0.0.0", 8765)
    assert "NOT de-identified" in capsys.readouterr().err
    assert main(["view", str(study / "missing")]) == 1
    assert "no such file or folder" in capsys.readouterr().err


def test_a_port_in_use_is_an_error_message(study, capsys) -> None:
    pytest.importorskip("trame", reason="the web extra (trame) is not installed")
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["view", str(study), "--port", str(port)]) == 1
    error = capsys.readouterr().err
    assert f"cannot serve on 127.0.0.1:{port}" in error and "Traceback" not in error
