"""The Extensions Index screenshot named in CMakeLists.txt exists in the repository, is a valid PNG of a
sensible size, and the command that renders it (scripts/render_screenshot.py) is kept. No rendering here."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
URL_PREFIX = "https://raw.githubusercontent.com/quantsr/SlicerQuantSR/main/"


def screenshot_paths() -> list[Path]:
    """Repository paths of the files EXTENSION_SCREENSHOTURLS points at (raw URLs on the main branch)."""
    text = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    match = re.search(r'set\(EXTENSION_SCREENSHOTURLS\s+"([^"]+)"\)', text)
    assert match, "CMakeLists.txt sets no EXTENSION_SCREENSHOTURLS"
    urls = match.group(1).split()
    assert urls and all(url.startswith(URL_PREFIX) for url in urls), urls
    return [ROOT / url[len(URL_PREFIX):] for url in urls]


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, payload) of every chunk, checking each chunk's CRC."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG file"
    chunks, offset = [], 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        payload = data[offset + 8:offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length:offset + 12 + length])
        assert zlib.crc32(kind + payload) == crc, f"bad CRC in chunk {kind!r}"
        chunks.append((kind, payload))
        offset += 12 + length
    return chunks


def test_cmake_names_the_compare_screenshot() -> None:
    assert [p.relative_to(ROOT).as_posix() for p in screenshot_paths()] == ["docs/screenshots/compare.png"]


def test_every_screenshot_is_a_valid_png_of_sensible_size() -> None:
    for path in screenshot_paths():
        assert path.is_file(), f"{path} is missing: run scripts/render_screenshot.py"
        data = path.read_bytes()
        assert 20_000 < len(data) <= 300_000, f"{path.name}: {len(data)} bytes"
        chunks = png_chunks(data)
        kinds = [kind for kind, _ in chunks]
        assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds
        width, height, depth, color_type = struct.unpack(">IIBB", chunks[0][1][:10])
        assert 1000 <= width <= 1600 and 400 <= height <= 700, (width, height)
        assert depth == 8 and color_type in (2, 3, 6)  # RGB, palette or RGBA
        pixels = zlib.decompress(b"".join(payload for kind, payload in chunks if kind == b"IDAT"))
        channels = {2: 3, 3: 1, 6: 4}[color_type]
        assert len(pixels) == height * (1 + width * channels)  # one filter byte per row


def test_the_render_command_is_kept_and_documented() -> None:
    script = ROOT / "scripts" / "render_screenshot.py"
    assert script.is_file()
    assert "docs/screenshots/compare.png" in script.read_text(encoding="utf-8").replace('" / "', "/")
    assert "scripts/render_screenshot.py" in (ROOT / "README.md").read_text(encoding="utf-8")
