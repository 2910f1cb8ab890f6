"""``quantsr report`` without statsmodels (the ``stats`` extra): one line naming the extra, no traceback,
nothing written — checked before any work."""

from __future__ import annotations

import sys

from quantsr.cli import main


def test_report_without_statsmodels_names_the_extra(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "statsmodels.stats.weightstats", None)  # import → ImportError
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    code = main(["report", "--cohort", str(cohort), "-o", str(tmp_path / "report")])
    err = capsys.readouterr().err
    assert code == 1
    assert "quantsr[stats]" in err and "statsmodels" in err
    assert "Traceback" not in err
    assert not (tmp_path / "report").exists()


def test_cached_subjects_are_stale_when_the_consistency_setting_changes(tmp_path) -> None:
    """A subject measured with the fast-scan consistency step on must not be reused for a run with it off."""
    from quantsr.engine import EngineOptions, SuperResolver
    from quantsr.mapkinds import MapKind
    from quantsr.report.run import report_config

    resolvers = {MapKind.T1: SuperResolver.for_kind(MapKind.T1, None, EngineOptions(device="cpu"))}
    default = report_config(resolvers, "niqe", "ssim", EngineOptions())
    raw = report_config(resolvers, "niqe", "ssim", EngineOptions(fast_consistency_mm=0.0))
    assert default != raw
    own = resolvers[MapKind.T1].consistency_mm  # the bundled model's own σ (1 mm when its file records none)
    forward = resolvers[MapKind.T1].consistency_forward  # its own forward model ("identity" when it records none)
    assert own > 0 and default["fast_consistency"] == {"T1": [own, 0.01, forward]}
    assert raw["fast_consistency"] == {"T1": [0.0, 0.01, forward]}
    other = "acquisition" if forward == "identity" else "identity"
    assert report_config(resolvers, "niqe", "ssim", EngineOptions(fast_consistency_forward=other)) != default
    assert report_config({}, "niqe", "ssim", EngineOptions())["fast_consistency"] is None  # no DL, nothing to differ
