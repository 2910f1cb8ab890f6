"""The page of ``quantsr view`` (trame, Vuetify 3): study list, map switch, the linked views with ROI outlines,
slice / zoom / window / trust controls, the ROI table with paired tests and CSV download, and errors.

Element ids (``view-QSRFast``, ``roi-table``, ...) and ``data-*`` attributes carry what a test reads back."""

from __future__ import annotations

from trame.ui.vuetify3 import VAppLayout
from trame.widgets import html
from trame.widgets import vuetify3 as v3

NOT_CLINICAL = "Not for clinical use · simulated-data models · data shown as stored, not de-identified"
TABLE_HEAD = (("roi", "ROI"), ("protocol", "method"), ("voxels", "voxels"), ("mean", "mean"), ("sd", "SD"),
              ("median", "median"))
TEST_HEAD = (("comparison", "comparison"), ("rois", "ROIs"), ("mean_difference", "mean difference"),
             ("t", "t"), ("p", "p"))


def build_layout(server, view_px: int) -> VAppLayout:
    ctrl = server.controller
    with VAppLayout(server, full_height=True) as layout:
        with v3.VAppBar(density="compact", color="#2b2b30"):
            v3.VToolbarTitle("QuantSR view", classes="text-body-1 font-weight-bold", style="flex: 0 0 auto")
            html.Span("{{ study_label }}", classes="text-caption text-grey-lighten-1 ml-4", id="study-label")
            v3.VSpacer()
            v3.VBtn(icon="mdi-chevron-left", size="small", variant="text", click=ctrl.previous_study,
                    disabled=("study <= 0",), id="previous-study")
            v3.VSelect(v_model=("study", 0), items=("studies", []), item_title="title", item_value="value",
                       density="compact", hide_details=True, variant="outlined", style="max-width: 280px",
                       id="study-select")
            v3.VBtn(icon="mdi-chevron-right", size="small", variant="text", click=ctrl.next_study,
                    disabled=("study >= studies.length - 1",), id="next-study")
            with v3.VBtnToggle(v_model=("kind", "T1"), mandatory=True, density="compact", classes="ml-4",
                               color="primary", variant="outlined", id="map-switch"):
                v3.VBtn("{{ k }}", v_for="k in kinds", key="k", value=("k",), id=("'map-' + k",))
        with v3.VMain(), v3.VContainer(fluid=True, classes="pa-3"):
            _messages()
            _views(ctrl, view_px)
            _view_controls(ctrl)
            _rois(ctrl)
            _tables()
            html.Div(NOT_CLINICAL, classes="text-caption text-grey mt-3", id="page-end")
    return layout


def _messages() -> None:
    with v3.VAlert(v_if="error", type="error", density="compact", closable=True, classes="mb-2",
                   click_close="error = ''", id="error"):
        html.Span("{{ error }}", id="error-text")
    with v3.VAlert(v_if="busy", type="info", density="compact", variant="tonal", classes="mb-2", id="busy"):
        html.Span("{{ busy }}")
    with v3.VAlert(v_if="notes.length", type="warning", density="compact", variant="tonal", classes="mb-2",
                   id="notes"):
        html.Div("{{ note }}", v_for="note in notes", key="note", classes="text-caption")


def _views(ctrl, view_px: int) -> None:
    with (html.Div(classes="d-flex ga-2", id="views", style="user-select: none"),
          html.Div(v_for="view in views", key="view.tag", style=f"flex: 1 1 0; max-width: {view_px}px",
                   id=("'view-' + view.tag",))):
        with html.Div(classes="d-flex align-center px-2 text-body-2",
                      style=("{background: view.colour, color: '#000', height: '24px'}",)):
            html.B("{{ view.title }}")
            v3.VSpacer()
            html.Span("{{ view.name }}", classes="text-caption")
        with html.Div(style="position: relative; background: #000; aspect-ratio: 1 / 1; overflow: hidden"):
            html.Img(v_if="view.src", src=("view.src",), draggable="false",
                     style="width: 100%; display: block; cursor: crosshair",
                     mousedown="drag_start = [$event.offsetX, $event.offsetY]",
                     mouseup=(ctrl.pointer_up, "[drag_start, [$event.offsetX, $event.offsetY], "
                                               "$event.target.clientWidth]"),
                     raw_attrs=['@dragstart.prevent=""',
                                '@wheel.prevent="trigger(\'wheel\', [$event.deltaY])"'],
                     classes="view-image")
            html.Div("{{ view.empty }}", v_if="!view.src", classes="text-caption text-grey pa-4")
            with html.Div(v_for="box in view.boxes", key="box.name", classes="roi-box",
                          style=("{position: 'absolute', left: box.left + '%', top: box.top + '%', "
                                 "width: box.width + '%', height: box.height + '%', "
                                 "border: '2px solid #ffd600', pointerEvents: 'none'}",)):
                html.Span("{{ box.name }}", style="position: absolute; left: 100%; top: -4px; color: #ffd600; "
                          "font-size: 12px; font-weight: bold; padding-left: 3px")


def _view_controls(ctrl) -> None:
    with v3.VRow(dense=True, classes="mt-2 align-center"):
        with v3.VCol(cols=12, md=4):
            v3.VSlider(v_model=("slice_index", 0), min=0, max=("slice_count - 1",), step=1, density="compact",
                       hide_details=True, label="slice", id="slice-slider")
            html.Div("S {{ slice_mm.toFixed(1) }} mm · slice {{ slice_index + 1 }} / {{ slice_count }} · "
                     "zoom {{ zoom.toFixed(2) }}×", classes="text-caption", id="slice-label")
        with v3.VCol(cols="auto"):
            v3.VBtn(icon="mdi-magnify-minus", size="small", variant="text", click=ctrl.zoom_out, id="zoom-out")
            v3.VBtn(icon="mdi-magnify-plus", size="small", variant="text", click=ctrl.zoom_in, id="zoom-in")
            v3.VBtn(icon="mdi-fit-to-screen", size="small", variant="text", click=ctrl.reset_view, id="reset-view")
        with v3.VCol(cols=12, md=4):
            v3.VRangeSlider(v_model=("window", [0, 1]), min=("window_limits[0]",), max=("window_limits[1]",),
                            step=("window_step",), density="compact", hide_details=True, strict=True,
                            label=("'window (' + unit + ')'",), id="window-slider")
            with html.Div(classes="d-flex align-center text-caption", id="legend"):
                html.Span("{{ window[0] }}", classes="mr-1")
                html.Img(src=("legend",), style="height: 12px; width: 160px; border: 1px solid #888")
                html.Span("{{ window[1] }} {{ unit }}", classes="ml-1")
                v3.VBtn("reset", size="x-small", variant="text", click=ctrl.reset_window, classes="ml-2")
        with v3.VCol(cols="auto"):
            v3.VSelect(v_model=("colormap", "grey"), items=("colormaps", []), density="compact", hide_details=True,
                       label="colours", style="width: 130px")
    with v3.VRow(dense=True, classes="align-center"):
        with v3.VCol(cols="auto"):
            v3.VSwitch(v_model=("trust_visible", False), label="trust overlay on DL (DL − fast, %)",
                       density="compact", hide_details=True, color="red", disabled=("!trust_available",),
                       id="trust-switch")
        with v3.VCol(cols="auto"):
            v3.VTextField(v_model=("trust_threshold", 5.0), type="number", label="threshold (%)",
                          density="compact", hide_details=True, style="width: 130px", id="trust-threshold")
        with (v3.VCol(cols="auto", v_if="trust_legend"),
              html.Div(classes="d-flex align-center text-caption", id="trust-legend")):
            html.Span("−{{ 2 * trust_threshold }} %", classes="mr-1")
            html.Img(src=("trust_legend",), style="height: 12px; width: 160px; border: 1px solid #888")
            html.Span("+{{ 2 * trust_threshold }} %", classes="ml-1")


def _rois(ctrl) -> None:
    with v3.VRow(dense=True, classes="align-center mt-1"):
        with (v3.VCol(cols="auto"),
              v3.VBtnToggle(v_model=("pointer", "pan"), mandatory=True, density="compact", variant="outlined",
                            color="primary", id="pointer-mode")):
            v3.VBtn("pan", value="pan", prepend_icon="mdi-cursor-move", id="mode-pan")
            v3.VBtn("place ROI", value="roi", prepend_icon="mdi-vector-square", id="mode-roi")
        for axis in ("x", "y", "z"):
            with v3.VCol(cols="auto"):
                v3.VTextField(v_model=(f"roi_size_{axis}", 10.0 if axis != "z" else 5.0), type="number",
                              label=f"ROI {axis} (mm)", density="compact", hide_details=True, style="width: 110px",
                              id=f"roi-size-{axis}")
        with v3.VCol(id="roi-list"):
            v3.VChip("{{ roi.text }}", v_for="roi in rois", key="roi.name", closable=True, size="small",
                     classes="mr-1 roi-chip", click_close=(ctrl.remove_roi, "[roi.name]"), id=("'roi-' + roi.name",),
                     raw_attrs=[':data-r="roi.r"', ':data-a="roi.a"', ':data-s="roi.s"',
                                ':data-size="roi.size.join(\',\')"'])
            v3.VBtn("clear ROIs", v_if="rois.length", size="x-small", variant="text", click=ctrl.clear_rois)


def _tables() -> None:
    with v3.VRow(dense=True, classes="mt-2"):
        with v3.VCol(cols=12, md=7):
            with html.Div(classes="d-flex align-center"):
                html.Div("ROI statistics · {{ kind }} ({{ unit }})", classes="text-subtitle-2")
                v3.VSpacer()
                v3.VBtn("download CSV (all maps)", size="small", prepend_icon="mdi-download", variant="tonal",
                        disabled=("!rois.length",), id="download-csv",
                        click="utils.download('quantsr_rois.csv', trigger('rois_csv'), 'text/csv')")
            with v3.VTable(density="compact", id="roi-table"):
                with html.Thead(), html.Tr():
                    for _key, title in TABLE_HEAD:
                        html.Th(title)
                    html.Th("consistency (%)", v_if="trust_visible")
                    html.Th("fast SE (%)", v_if="trust_visible")
                    html.Th("flag", v_if="trust_visible")
                with (html.Tbody(),
                      html.Tr(v_for="row in table_rows", key="row.roi + row.protocol", classes="roi-row",
                              raw_attrs=[*(f':data-{key}="row.{key}"' for key, _ in (*TABLE_HEAD, ("map", ""))),
                                         ':data-consistency="row[\'consistency (%)\']"',
                                         ':data-precision="row[\'fast SE (%)\']"', ':data-flag="row.flag"'])):
                    html.Td("{{ row.roi }}")
                    html.Td("{{ row.protocol }}")
                    html.Td("{{ row.voxels }}")
                    for key in ("mean", "sd", "median"):
                        html.Td(f"{{{{ row.{key} == null ? '–' : row.{key}.toFixed(2) }}}}")
                    html.Td("{{ row['consistency (%)'] == null ? '' : row['consistency (%)'].toFixed(2) }}",
                            v_if="trust_visible")
                    html.Td("{{ row['fast SE (%)'] == null ? '' : row['fast SE (%)'].toFixed(2) }}",
                            v_if="trust_visible")
                    html.Td("{{ row.flag }}", v_if="trust_visible")
            html.Div("Place an ROI: choose “place ROI”, then click a view. The box is measured on every volume "
                     "in physical space (the Slicer module's Measure ROIs).", v_if="!rois.length",
                     classes="text-caption text-grey")
        with v3.VCol(cols=12, md=5):
            html.Div("Paired t-tests over ROIs · {{ kind }}", classes="text-subtitle-2")
            with v3.VTable(density="compact", id="test-table"):
                with html.Thead(), html.Tr():
                    for _key, title in TEST_HEAD:
                        html.Th(title)
                with (html.Tbody(),
                      html.Tr(v_for="test in tests", key="test.comparison", classes="test-row",
                              raw_attrs=[f':data-{key.replace("_", "-")}="test.{key}"' for key, _ in TEST_HEAD])):
                    html.Td("{{ test.comparison }}")
                    html.Td("{{ test.rois }}")
                    html.Td("{{ test.mean_difference == null ? '–' : test.mean_difference.toFixed(2) }}")
                    html.Td("{{ test.t == null ? '–' : test.t.toFixed(2) }}")
                    html.Td("{{ test.p == null ? 'needs ≥ 2 ROIs' : test.p.toPrecision(3) }}")
