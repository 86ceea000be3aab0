"""Every module of the package and of ``pipelines`` declares its public names in
``__all__``: each listed name exists, and each public function or class it defines is
listed. Importing a module has no side effect on the environment."""

from __future__ import annotations

import ast
import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import dataqual
import pipelines

ROOT = Path(__file__).resolve().parents[1]


def _modules() -> list[str]:
    names = []
    for package in (dataqual, pipelines):
        names.append(package.__name__)
        prefix = package.__name__ + "."
        names += [m.name for m in pkgutil.walk_packages(package.__path__, prefix)]
    return sorted(n for n in names if not n.endswith("__main__"))


MODULES = _modules()


def _defined_public(module: object) -> set[str]:
    """Public functions and classes defined at the top level of the module's source."""
    path = Path(str(getattr(module, "__file__", "")))
    tree = ast.parse(path.read_text())
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return {n.name for n in tree.body if isinstance(n, kinds) and not n.name.startswith("_")}


@pytest.mark.parametrize("name", MODULES)
def test_all_lists_exactly_the_public_names(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert len(exported) == len(set(exported)), f"{name}.__all__ repeats a name"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ lists names it does not have: {missing}"
    unlisted = sorted(_defined_public(module) - set(exported))
    assert not unlisted, f"{name} defines public names missing from __all__: {unlisted}"


def test_importing_every_module_leaves_the_environment_alone() -> None:
    code = (
        "import importlib, json, os, sys\n"
        "before = dict(os.environ)\n"
        "for name in json.loads(sys.argv[1]):\n"
        "    importlib.import_module(name)\n"
        "keys = set(before) | set(os.environ)\n"
        "changed = sorted(k for k in keys if before.get(k) != os.environ.get(k))\n"
        "print(json.dumps(changed))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GX_", "PREFECT_"))}
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(MODULES)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_the_guard_walks_every_module() -> None:
    files = {p for p in (ROOT / "src" / "dataqual").rglob("*.py") if p.name != "__main__.py"}
    assert len(MODULES) >= len(files)
