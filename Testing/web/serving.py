"""`quantsr view` in a subprocess and headless Chromium driven by Selenium (Debian's chromium + chromedriver,
never a downloaded driver): shared by the tests (conftest.py) and the README screenshot (screenshot.py)."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

START_TIMEOUT_S = 120  # reading the cohort and importing trame + slicer-core on a busy 2-core machine


class Server:
    """`quantsr view` in a subprocess: its URL, and everything it wrote (checked for tracebacks)."""

    def __init__(self, args: list[str]) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "quantsr.cli", "view", *args], text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.output: list[str] = []
        self.errors: list[str] = []
        lines: queue.Queue[str] = queue.Queue()
        self._readers = [threading.Thread(target=self._read, args=(self.process.stdout, self.output, lines),
                                          daemon=True),
                         threading.Thread(target=self._read, args=(self.process.stderr, self.errors, None),
                                          daemon=True)]
        for reader in self._readers:
            reader.start()
        self.url = ""
        try:
            while not self.url:
                line = lines.get(timeout=START_TIMEOUT_S)
                match = re.search(r"http://\S+/", line)
                self.url = match.group(0) if match else ""
        except queue.Empty:
            self.stop()
            raise AssertionError(f"quantsr view did not start: {''.join(self.errors)[-2000:]}") from None

    @staticmethod
    def _read(stream, sink: list[str], lines: queue.Queue | None) -> None:
        for line in stream:
            sink.append(line)
            if lines is not None:
                lines.put(line)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for reader in self._readers:
            reader.join(timeout=5)
        return self.process.returncode


def chrome(chromium: str, chromedriver: str, downloads: Path, width: int = 1400, height: int = 1200):
    """Headless Chromium at a fixed size and scale (screenshots are compared), downloads into ``downloads``."""
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never download a browser or driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={width},{height}",
                 "--force-device-scale-factor=1", "--hide-scrollbars", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    return driver
