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
