"""``quantsr view``: review fast | DL | routine maps side by side in the browser (optional ``web`` extra)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "view",
        help="review fast / DL / routine maps in the browser",
        description="Serve a local web page with three linked views fast | DL | routine (+ truth on simulated "
        "cohorts), T1 / T2 / PD, physical windows, the trust overlay, ROI boxes measured on every volume with "
        "paired tests and CSV download. PATH: a study folder (DICOM or NRRD maps), a `quantsr sr` / `quantsr "
        "batch` output folder (give its inputs with --inputs), a `quantsr demo` folder or a report cohort "
        "(manifest.csv).",
    )
    p.add_argument("path", type=Path, help="study folder, sr / batch output folder, demo folder or cohort")
    p.add_argument("--inputs", type=Path,
                   help="the fast study (or batch input folder) an sr / batch output was made from")
    p.add_argument("--port", type=int, default=8080, help="port to serve on (default 8080; 0: any free port)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only). Another address serves the "
                   "maps to other machines, which see them as stored: they are not de-identified")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError, QuantSRError

    if not 0 <= args.port <= 65535:
        raise InputError(f"--port must be between 0 and 65535, got {args.port}")
    try:  # the web extra and the slicer-core wheel: imported only here, so `quantsr --help` stays fast
        import slicer  # noqa: F401
        import trame  # noqa: F401
    except ImportError as exc:
        raise InputError(f"quantsr view needs the web extra ({exc.name} is not installed): "
                         "pip install 'quantsr[web]'") from None
    _ensure_module_logic()
    from ..view.app import ViewApp
    from ..view.session import ReviewSession
    from ..view.studies import open_catalog

    catalog = open_catalog(args.path, args.inputs)
    session = ReviewSession(catalog)
    try:
        session.open_study(0)
    except QuantSRError as exc:  # the page shows it, and the other studies stay reachable
        first_error = str(exc)
    else:
        first_error = ""
    app = ViewApp(session)
    app.state.error = first_error
    if args.host not in LOCAL_HOSTS:
        print(f"quantsr: warning: serving on {args.host}: other machines can open these maps, which are shown as "
              "stored — they are NOT de-identified (patient names and IDs stay in the page and the CSV). "
              "Use the default --host 127.0.0.1 unless the network is trusted.", file=sys.stderr)
    app.serve(args.host, args.port)
    return 0


def _ensure_module_logic() -> None:
    """QuantSRLib (the Slicer module's Logic) is installed with the package; in a source tree it sits next to
    ``quantsr`` under QuantSR/."""
    try:
        import QuantSRLib  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
