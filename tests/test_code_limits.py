"""Size limits of the code base (issue 9): no function over 60 lines and no module over 450
lines in ``src/`` and ``pipelines/``, each unless a comment says why; no block of 8 or more
lines repeated to the letter (ignoring indentation, blank lines and comments)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted([*ROOT.joinpath("src").rglob("*.py"), *ROOT.joinpath("pipelines").rglob("*.py")])
MAX_FUNCTION, MAX_MODULE, MIN_REPEAT = 60, 450, 8
#: A comment with this marker on the line of a ``def`` (or the line above) says why it is long.
FUNCTION_WAIVER = "# long:"
#: A comment with this marker in a module's first 30 lines says why the module is long.
MODULE_WAIVER = "# long-module:"


def _waived(lines: list[str], lineno: int) -> bool:
    return any(FUNCTION_WAIVER in lines[i] for i in range(max(0, lineno - 2), lineno))


def long_functions(path: Path) -> list[str]:
    """``file:line name (n lines)`` of each function longer than the limit and not waived."""
    text = path.read_text()
    lines = text.splitlines()
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = (node.end_lineno or node.lineno) - start + 1
            if length > MAX_FUNCTION and not _waived(lines, node.lineno):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length})")
    return found


def test_functions_are_short() -> None:
    offenders = [o for path in FILES for o in long_functions(path)]
    assert not offenders, "functions over 60 lines:\n" + "\n".join(offenders)


def test_modules_are_short() -> None:
    offenders = []
    for path in FILES:
        lines = path.read_text().splitlines()
        if len(lines) > MAX_MODULE and not any(MODULE_WAIVER in line for line in lines[:30]):
            offenders.append(f"{path.relative_to(ROOT)} ({len(lines)})")
    assert not offenders, "modules over 450 lines:\n" + "\n".join(offenders)


def _code_lines(path: Path) -> list[tuple[int, str]]:
    out = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        text = line.strip()
        if text and not text.startswith(("#", "import ", "from ")):
            out.append((number, text))
    return out


def repeated_blocks(paths: list[Path], size: int = MIN_REPEAT) -> list[str]:
    """Places where ``size`` consecutive code lines stand again elsewhere, to the letter.

    Windows made only of punctuation-like lines (closing brackets, ``else:``, ...) are
    ignored: they repeat in any code base."""
    seen: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for path in paths:
        lines = _code_lines(path)
        for i in range(len(lines) - size + 1):
            window = tuple(text for _, text in lines[i : i + size])
            if sum(len(t) > 12 for t in window) < size // 2:
                continue
            seen[window].append(f"{path.relative_to(ROOT)}:{lines[i][0]}")
    return [" ~ ".join(places) for places in seen.values() if len(places) > 1]


@pytest.mark.parametrize("size", [MIN_REPEAT])
def test_no_repeated_blocks(size: int) -> None:
    repeats = repeated_blocks(FILES, size)
    assert not repeats, "repeated blocks:\n" + "\n".join(repeats)
