"""The library never imports Prefect: every module imports with Prefect made unimportable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dataqual

SCRIPT = r"""
import importlib, pkgutil, sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "prefect" or name.startswith("prefect."):
            raise ImportError(f"blocked: {name}")
        return None

sys.meta_path.insert(0, Block())
import dataqual
names = [m.name for m in pkgutil.walk_packages(dataqual.__path__, "dataqual.")]
for name in names:
    importlib.import_module(name)
assert not any(m == "prefect" or m.startswith("prefect.") for m in sys.modules)
print(len(names))
"""


def test_every_library_module_imports_without_prefect() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(dataqual.__file__).parent,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) >= 20  # the walk really covered the package


def test_the_block_really_blocks() -> None:
    probe = SCRIPT.split("import dataqual")[0] + "import prefect\n"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0 and "blocked: prefect" in result.stderr
