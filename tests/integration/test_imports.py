"""Every module of wenulake/ imports alone, in a fresh interpreter, and all of them in a random order: no import
cycle or hidden import-order dependency (issue 20). tests/unit/test_structure.py checks the graph statically."""

from __future__ import annotations

import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.unit.test_structure import MODULES

#: scripts rather than modules: importing them runs them (the CLI; Alembic's env.py needs Alembic's context)
SCRIPTS = {"wenulake.__main__", "wenulake.catalog.migrations.env"}
IMPORTABLE = sorted(set(MODULES) - SCRIPTS)


def _import(names: list[str]) -> subprocess.CompletedProcess[str]:
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    return subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, check=False)


@pytest.mark.slow
def test_every_module_imports_alone_in_a_fresh_interpreter():
    names = IMPORTABLE
    assert len(names) > 50
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(zip(names, pool.map(lambda name: _import([name]), names), strict=True))
    failed = {name: p.stderr.strip().splitlines()[-1] for name, p in done.items() if p.returncode != 0}
    assert not failed, failed


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_every_module_imports_in_a_random_order(seed):
    names = list(IMPORTABLE)
    random.Random(seed).shuffle(names)
    done = _import(names)
    assert done.returncode == 0, f"order {names}: {done.stderr[-2000:]}"
