"""Render the README's browser screenshot ``docs/screenshots/view.png``: `quantsr view` on the `quantsr demo`
patient (fast | DL | routine | truth, T2), three ROI boxes on its lesions placed by clicking the DL view, the
ROI table and paired tests below — the page as headless Chromium shows it (``--trust``: with the overlay).

Made with::

    nice -n 19 .venv/bin/python Testing/web/screenshot.py --demo quantsr-demo

(runs ``quantsr demo -o quantsr-demo`` first when that folder has no demo yet; needs the web extra, chromium and
chromium-driver)."""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from serving import Server, chrome

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "docs" / "screenshots" / "view.png"
MAX_BYTES = 300_000  # above this the PNG is written with a 256-colour palette
ROI_MM = 6.0  # inside each lesion's cross-section at the slice shown


def lesion_centres(demo: Path) -> list[tuple[str, float, float, float]]:
    """(kind, R, A, S) of each simulated lesion (lesions.csv has LPS centres)."""
    with open(demo / "input" / "sub-001" / "lesions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    centres = []
    for row in rows:
        x, y, z = (float(v) for v in row["centre_mm"].split())
        centres.append((row["kind"], -x, -y, z))
    return centres


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=Path("quantsr-demo"), help="a `quantsr demo` folder")
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT)
    parser.add_argument("--slice", type=int, default=11, help="slice shown (0-based; 11: all three demo lesions)")
    parser.add_argument("--trust", action="store_true", help="with the trust overlay on")
    args = parser.parse_args(argv)
    if not (args.demo / "sr_dicom").is_dir():
        subprocess.run([sys.executable, "-m", "quantsr.cli", "demo", "-o", str(args.demo)], check=True)
    from PIL import Image
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    server = Server([str(args.demo), "--port", "0"])
    downloads = Path(tempfile.mkdtemp(prefix="quantsr-shot-"))
    driver = chrome(shutil.which("chromium") or "chromium", shutil.which("chromedriver") or "chromedriver", downloads,
                    1400, 1600)
    try:
        wait = WebDriverWait(driver, 120, poll_frequency=0.2)
        driver.get(server.url)
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "img.view-image")) == 4)
        driver.find_element(By.ID, "map-T2").click()
        thumb = driver.find_element(By.CSS_SELECTOR, "#slice-slider ~ * .v-slider-thumb, .v-slider-thumb")
        label = driver.find_element(By.ID, "slice-label")
        current = int(label.text.split("slice ")[1].split(" /")[0]) - 1
        for _ in range(abs(args.slice - current)):
            thumb.send_keys(Keys.ARROW_LEFT if args.slice < current else Keys.ARROW_RIGHT)
            time.sleep(0.3)
        wait.until(lambda d: f"slice {args.slice + 1} /" in d.find_element(By.ID, "slice-label").text)
        driver.find_element(By.ID, "mode-roi").click()
        for axis in ("x", "y"):
            field = driver.find_element(By.ID, f"roi-size-{axis}")
            field.send_keys(Keys.CONTROL, "a")
            field.send_keys(str(ROI_MM))
        time.sleep(1.0)
        image = driver.find_element(By.CSS_SELECTOR, "#view-QSRDL img.view-image")
        width = image.size["width"]
        for count, (_kind, r, a, _s) in enumerate(lesion_centres(args.demo), start=1):
            x, y = (0.5 - r / 220.0) * width, (0.5 - a / 220.0) * width  # the demo's 220 mm FOV, zoom 1
            ActionChains(driver).move_to_element_with_offset(image, x - width / 2, y - width / 2).click().perform()
            wait.until(lambda d, n=count: len(d.find_elements(By.CSS_SELECTOR, ".roi-chip")) == n)
        driver.find_element(By.ID, "mode-pan").click()
        if args.trust:
            driver.execute_script("arguments[0].click()", driver.find_element(By.ID, "trust-switch"))
            wait.until(lambda d: d.find_elements(By.ID, "trust-legend"))
        time.sleep(1.0)
        bottom = driver.execute_script("return document.getElementById('page-end').getBoundingClientRect().bottom")
        picture = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
        picture = picture.crop((0, 0, picture.width, min(picture.height, int(bottom) + 12)))
    finally:
        driver.quit()
        server.stop()
        shutil.rmtree(downloads, ignore_errors=True)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG", optimize=True)
    if buffer.tell() > MAX_BYTES:
        buffer = io.BytesIO()
        picture.quantize(256, method=Image.Quantize.MEDIANCUT).save(buffer, "PNG", optimize=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(buffer.getvalue())
    print(f"wrote {args.output} ({buffer.tell() / 1000:.0f} kB, {picture.width}×{picture.height})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
