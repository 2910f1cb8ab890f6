#!/usr/bin/env python3
"""Every measured-looking number in README.md and docs/*.md must say how it was made (issue 19).

    python scripts/check_doc_numbers.py [FILE ...]      # exit 1 and a list of the blocks that fail

The rule, kept simple on purpose so that a reader can apply it by eye:

* The text is cut into **blocks**: a paragraph, a list item (with its continuation lines), a table, a fenced
  code block. Headings start a new **section**.
* A block **has measured-looking numbers** when, outside inline code spans, a number is followed by one of the
  units %, ms, dB, s, min (``1.6 dB``, ``−0.69 %``, ``17.0 s``, ``≈ 1.5 min``). Plain counts, mm and ratios
  are not checked.
* Such a block is **covered** when it, one of the ``WINDOW`` blocks before it in the same section, or the
  first block of its section (a section that opens with the command behind all of it) holds a **reference**:
  an inline code span or a fenced block that names a command or a file of the repository (``quantsr …``,
  ``quantsr-train …``, ``pytest``, ``bash``, ``python``, a ``.py`` / ``.sh`` / ``.toml`` / ``.md`` /
  ``.json`` / ``.csv`` path, a ``Testing/`` / ``scripts/`` / ``docs/`` folder). A pointer to another
  checked page (``docs/generalization.md``) counts: that page must name the command itself.
* A block that fails and is not a measurement (a parameter, a protocol value, a threshold) goes into
  ``ALLOWED`` with the reason. An ``ALLOWED`` entry that no longer matches a failing block is an error too, so
  the list cannot go stale.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: How many earlier blocks of the same section may carry the reference (a table's caption line, the
#: paragraph that introduces a table and its caption).
WINDOW = 3

MEASURED = re.compile(r"(?<![\w.])[-−+±]?\d+(?:\.\d+)?\s?(?:%|ms\b|dB\b|s\b|min\b)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
REFERENCE = re.compile(
    r"\bquantsr(?:-train)?\b|\bpytest\b|\bbash\b|\bpython\b|\btorchrun\b"
    r"|[\w./-]+\.(?:py|sh|toml|md|json|csv)\b|\b(?:Testing|scripts|docs|QuantSR|QuantSRTraining)/")
LIST_ITEM = re.compile(r"^\s{0,3}(?:[-*+]|\d+\.)\s")

#: (file, a piece of the block's text, why its numbers need no command). Keep each reason specific.
ALLOWED: list[tuple[str, str, str]] = [
    ("README.md", "QuantSR turns the noisy, blurry T1, T2",
     "≈ 2 min and ≈ 5 min are the acquisition times of the paper's fast and routine protocols (Liu et al.), "
     "not something QuantSR measures"),
]


@dataclass
class Block:
    path: str
    line: int  # 1-based line of the block's first line
    section: int  # running index of the heading above the block
    text: str
    fenced: bool

    @property
    def has_reference(self) -> bool:
        spans = [self.text] if self.fenced else CODE_SPAN.findall(self.text)
        return any(REFERENCE.search(span) for span in spans)

    @property
    def measured(self) -> list[str]:
        prose = self.text if self.fenced else CODE_SPAN.sub(" ", self.text)
        return [match.group(0).strip() for match in MEASURED.finditer(prose)]


def split_blocks(path: str, text: str) -> list[Block]:
    """Paragraphs, list items, tables and fenced code blocks, each with its section index."""
    blocks: list[Block] = []
    section, start = 0, 0
    lines: list[str] = []
    fence: str | None = None  # the opening fence while inside a fenced block

    def close() -> None:
        nonlocal lines
        if lines:
            blocks.append(Block(path, start + 1, section, "\n".join(lines), fence is not None))
        lines = []

    for number, line in enumerate(text.splitlines()):
        stripped = line.strip()
        if fence is not None:  # inside a fenced block: collect until the closing fence
            lines.append(line)
            if stripped.startswith(fence):
                close()
                fence = None
            continue
        if stripped.startswith(("```", "~~~")):
            close()
            fence, start, lines = stripped[:3], number, [line]
            continue
        if not stripped:
            close()
            continue
        if stripped.startswith("#"):
            close()
            section += 1
            continue
        is_table = stripped.startswith("|")
        in_table = bool(lines) and lines[-1].lstrip().startswith("|")
        if lines and (LIST_ITEM.match(line) or is_table != in_table):
            close()  # a new list item, or the border between a table and prose
        if not lines:
            start = number
        lines.append(line)
    close()
    return blocks


def failing_blocks(path: Path) -> list[Block]:
    name = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.as_posix()
    blocks = split_blocks(name, path.read_text(encoding="utf-8"))
    failing = []
    for index, block in enumerate(blocks):
        if not block.measured:
            continue
        window = [b for b in blocks[max(0, index - WINDOW):index + 1] if b.section == block.section]
        opener = next(b for b in blocks if b.section == block.section)
        if not any(b.has_reference for b in [opener, *window]):
            failing.append(block)
    return failing


def allowed_entry(block: Block) -> tuple[str, str, str] | None:
    flat = " ".join(block.text.split())
    for entry in ALLOWED:
        if entry[0] == block.path and entry[1] in flat:
            return entry
    return None


def default_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def check(files: list[Path]) -> list[str]:
    """The problems found, one line each (empty: every number has its command)."""
    problems, used = [], set()
    for path in files:
        for block in failing_blocks(path):
            entry = allowed_entry(block)
            if entry is not None:
                used.add(entry)
                continue
            first = block.text.strip().splitlines()[0][:90]
            problems.append(f"{block.path}:{block.line}: {', '.join(block.measured[:4])} without a command "
                            f"reference nearby: {first!r}")
    checked = {path.relative_to(ROOT).as_posix() for path in files if path.is_relative_to(ROOT)}
    for entry in ALLOWED:
        if entry[0] in checked and entry not in used:
            problems.append(f"{entry[0]}: ALLOWED entry {entry[1]!r} matches no failing block (stale: remove it)")
    return problems


def main(argv: list[str]) -> int:
    files = [Path(a).resolve() for a in argv] or default_files()
    problems = check(files)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} block(s) with numbers but no command: name the command that regenerates them "
              f"(with the machine and date), remove them, or add an ALLOWED entry with the reason "
              f"(scripts/check_doc_numbers.py)", file=sys.stderr)
        return 1
    print(f"ok: every measured-looking number in {len(files)} file(s) has a command reference nearby")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
