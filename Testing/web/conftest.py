"""Fixtures of the `quantsr view` tests: the small simulated cohort, the server (a real `quantsr view`
subprocess on a free port) and headless Chromium driven by Selenium through Debian's chromedriver."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from serving import Server, chrome


def _browser_tools() -> tuple[str, str]:
    """Chromium and its driver; missing ones fail in CI (it installs both) and skip elsewhere."""
    found = {name: shutil.which(name) for name in ("chromium", "chromedriver")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        message = (f"{' and '.join(missing)} not installed (apt-get install chromium chromium-driver; "
                   "scripts/dev.sh test installs them as root)")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found["chromium"], found["chromedriver"]


@pytest.fixture(scope="session")
def cohort(tmp_path_factory) -> Path:
    from ministudy import write_cohort

    return write_cohort(tmp_path_factory.mktemp("view_cohort"))


@pytest.fixture(scope="session")
def server(cohort):
    running = Server([str(cohort), "--port", "0"])
    yield running
    running.stop()
    assert "Traceback" not in "".join(running.errors), "".join(running.errors)[-3000:]


@pytest.fixture(scope="session")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="session")
def browser(downloads):
    chromium, chromedriver = _browser_tools()
    pytest.importorskip("selenium", reason="selenium is not installed (test extra)")
    driver = chrome(chromium, chromedriver, downloads)
    yield driver
    driver.quit()
