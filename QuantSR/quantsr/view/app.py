"""The trame server of ``quantsr view``: binds the page's state (``layout.py``) to a ``ReviewSession``.

Every user action goes through ``_guarded``: a QuantSR error (unreadable study, missing map, bad window) is
shown in the page, and anything unexpected too (one line, the traceback only in the server log with -v),
so the page never shows a server traceback and the server keeps serving."""

from __future__ import annotations

import asyncio
import logging
import math
import sys
from collections.abc import Callable
from functools import wraps

from ..errors import QuantSRError
from ..mapkinds import MapKind
from .session import VIEW_PX, ReviewSession

log = logging.getLogger("quantsr.view")
WINDOW_LIMITS = {MapKind.T1: (0.0, 5000.0, 10.0), MapKind.T2: (0.0, 2500.0, 5.0), MapKind.PD: (0.0, 150.0, 1.0)}
DRAG_PX = 3  # a pointer that moved less than this is a click, not a pan


class ViewApp:
    def __init__(self, session: ReviewSession, server=None) -> None:
        from trame.app import get_server

        self.session = session
        self.server = server or get_server(f"quantsr-view-{id(self)}", client_type="vue3")  # one per app
        self.state, self.ctrl = self.server.state, self.server.controller
        self.server.hot_reload = False
        self._bind()
        from .layout import build_layout

        self._initial_state()
        build_layout(self.server, VIEW_PX)

    # -- wiring -------------------------------------------------------------------------------
    def _guarded(self, action: Callable) -> Callable:
        @wraps(action)
        def run(*args, **kwargs):
            changed = True
            try:
                changed = action(*args, **kwargs) is not False  # False: nothing to redraw
                if changed:
                    self.state.error = ""
            except QuantSRError as exc:
                self.state.error = str(exc)
            except Exception as exc:  # the page says what failed; the server keeps running
                log.debug("view action %s failed", action.__name__, exc_info=True)
                log.error("%s: %s: %s", action.__name__, type(exc).__name__, exc)
                self.state.error = f"unexpected problem ({type(exc).__name__}: {exc}); the server log has details"
            finally:
                if changed:
                    self.push()

        return run

    def _bind(self) -> None:
        state, ctrl, guard = self.state, self.ctrl, self._guarded
        ctrl.previous_study = lambda: self._step_study(-1)
        ctrl.next_study = lambda: self._step_study(1)
        ctrl.zoom_in = guard(lambda: self.session.zoom_by(1.25))
        ctrl.zoom_out = guard(lambda: self.session.zoom_by(0.8))
        ctrl.reset_view = guard(self.session.reset_view)
        ctrl.reset_window = guard(self.session.reset_window)
        ctrl.clear_rois = guard(self.session.clear_rois)
        ctrl.remove_roi = guard(self.session.remove_roi)
        ctrl.pointer_up = guard(self._pointer_up)
        self.server.trigger("wheel")(guard(self._wheel))
        self.server.trigger("rois_csv")(self._csv)
        state.change("study")(self._on_study)
        state.change("kind")(guard(self._on_kind))
        state.change("slice_index")(guard(self._on_slice))
        state.change("window")(guard(self._on_window))
        state.change("colormap")(guard(self._on_colormap))
        state.change("trust_visible", "trust_threshold")(guard(self._on_trust))
        state.change("roi_size_x", "roi_size_y", "roi_size_z")(guard(self._on_roi_size))

    def _initial_state(self) -> None:
        s = self.session
        catalog = s.catalog
        self.state.update({
            "studies": [{"title": study.name, "value": i} for i, study in enumerate(catalog.studies)],
            "study": s.study_index if s.study_index is not None else 0,
            "error": "", "busy": "", "notes": [], "drag_start": [0, 0], "pointer": "pan",
            "trust_visible": False, "trust_threshold": s.trust_threshold,
            "roi_size_x": s.roi_size[0], "roi_size_y": s.roi_size[1], "roi_size_z": s.roi_size[2],
        })
        self.push()

    def push(self) -> None:
        """Everything the page shows, from the session."""
        s, state = self.session, self.state
        if s.study_index is None:
            state.update({"views": [], "kinds": [], "rois": [], "table_rows": [], "tests": [], "slice_count": 1,
                          "slice_index": 0, "slice_mm": 0.0, "zoom": 1.0, "window": [0, 1], "unit": "",
                          "window_limits": [0, 1], "window_step": 1, "legend": "", "trust_legend": "",
                          "colormaps": s.colormaps(), "colormap": s.colormap, "trust_available": False,
                          "study_label": f"{s.catalog.layout}: {s.catalog.root}"})
            return
        frame = s.frame()
        rows, tests = s.table()
        low, high, step = WINDOW_LIMITS.get(s.kind, (0.0, 1.0, 0.01))
        window = frame["window"]
        state.update({
            "study": s.study_index,
            "study_label": f"{s.study_name} · {s.catalog.layout} {s.catalog.root}",
            "kinds": [k.value for k in s.kinds],
            "kind": s.kind.value,
            "unit": s.kind.unit,
            "views": frame["views"],
            "slice_count": frame["slice_count"],
            "slice_index": s.slice_index,
            "slice_mm": frame["slice_mm"],
            "zoom": frame["zoom"],
            "window": [_number(window[0]), _number(window[1])],
            "window_limits": [min(low, window[0]), max(high, window[1])],
            "window_step": step,
            "legend": frame["legend"],
            "trust_legend": frame["trust_legend"],
            "colormaps": s.colormaps(),
            "colormap": s.colormap,
            "trust_visible": s.trust_visible,
            "trust_available": s.trust_pair() is not None,
            "rois": [roi.as_dict() for roi in s.rois],
            "table_rows": rows,
            "tests": tests,
            "notes": s.notes,
        })

    # -- actions ------------------------------------------------------------------------------
    # State listeners also run when push() itself changed a value: each returns False when the session
    # already shows that value, so nothing is drawn twice.
    def _open(self, index: int) -> bool:
        count = len(self.session.catalog.studies)
        if not 0 <= index < count or index == self.session.study_index:
            return False
        self.session.open_study(index)
        return True

    def _step_study(self, step: int) -> None:
        current = self.session.study_index if self.session.study_index is not None else 0
        self.state.study = min(max(current + step, 0), len(self.session.catalog.studies) - 1)

    async def _on_study(self, study, **_) -> None:
        """Reading a study takes seconds: say so in the page first."""
        index = int(study)
        if index == self.session.study_index or not 0 <= index < len(self.session.catalog.studies):
            return
        with self.state:
            self.state.busy = f"reading {self.session.catalog.studies[index].name} …"
        await asyncio.sleep(0.05)  # the message reaches the page before the (blocking) read
        with self.state:
            self._guarded(self._open)(index)
            self.state.busy = ""

    def _on_kind(self, kind, **_) -> bool:
        if self.session.study_index is None or not kind or kind == self.session.kind.value:
            return False
        self.session.set_kind(kind)
        return True

    def _on_slice(self, slice_index, **_) -> bool:
        if self.session.study_index is None or int(slice_index) == self.session.slice_index:
            return False
        self.session.set_slice(int(slice_index))
        return True

    def _on_window(self, window, **_) -> bool:
        if self.session.study_index is None or not window or len(window) != 2:
            return False
        low, high = (float(v) for v in window)
        if (low, high) == tuple(self.session.window()):
            return False
        self.session.set_window(low, high)
        return True

    def _on_colormap(self, colormap, **_) -> bool:
        if not colormap or colormap == self.session.colormap:
            return False
        self.session.set_colormap(colormap)
        return True

    def _on_trust(self, trust_visible, trust_threshold, **_) -> bool:
        threshold = _float(trust_threshold, "trust threshold")
        if bool(trust_visible) == self.session.trust_visible and threshold == self.session.trust_threshold:
            return False
        self.session.set_trust(bool(trust_visible), threshold)
        return True

    def _on_roi_size(self, roi_size_x, roi_size_y, roi_size_z, **_) -> bool:
        self.session.set_roi_size([_float(v, "ROI size") for v in (roi_size_x, roi_size_y, roi_size_z)])
        return False  # applies to the next ROI placed

    def _pointer_up(self, start, end, shown_width) -> None:
        """A click places an ROI (in "place ROI" mode); a drag pans the linked views."""
        scale = VIEW_PX / float(shown_width or VIEW_PX)  # the image may be shown smaller than rendered
        x0, y0 = (float(v) * scale for v in start)
        x1, y1 = (float(v) * scale for v in end)
        if math.hypot(x1 - x0, y1 - y0) >= DRAG_PX * scale:
            self.session.pan_pixels(x1 - x0, y1 - y0)
        elif self.state.pointer == "roi":
            self.session.place_roi(x1, y1)

    def _wheel(self, delta_y) -> None:
        """The wheel steps through slices, as in Slicer's slice views."""
        step = 1 if float(delta_y) < 0 else -1
        self.session.set_slice(self.session.slice_index + step)

    def _csv(self) -> str:
        try:
            return self.session.csv_text()
        except QuantSRError as exc:
            self.state.error = str(exc)
            self.state.flush()
            return ""

    # -- serving ------------------------------------------------------------------------------
    def serve(self, host: str, port: int) -> None:
        """Serve until interrupted; prints the address once the server listens."""

        def ready(**_):
            print(f"quantsr view: {len(self.session.catalog.studies)} stud"
                  f"{'y' if len(self.session.catalog.studies) == 1 else 'ies'} at "
                  f"http://{_url_host(host)}:{self.server.port}/  (Ctrl+C stops)", flush=True)

        self.ctrl.on_server_ready.add(ready)
        argv = sys.argv
        sys.argv = argv[:1]  # trame parses sys.argv itself; quantsr's own options are already parsed
        try:
            self.server.start(host=host, port=port, open_browser=False, show_connection_info=False,
                              disable_logging=True, timeout=0)
        except OSError as exc:  # port taken, address not on this machine, no permission
            raise QuantSRError(f"cannot serve on {host}:{port} ({exc.strerror or exc}): choose another --port "
                               "(0: any free port) or --host") from None
        finally:
            sys.argv = argv


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(float(value), 3)


def _float(value, what: str) -> float:
    from ..errors import InputError

    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise InputError(f"{what}: {value!r} is not a finite number")
    return number


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::"):
        return "localhost"
    return f"[{host}]" if ":" in host else host
