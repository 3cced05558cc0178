"""`make lint` as a test, so CI enforces it: ruff, ruff format, mypy on wenulake/, sqlfluff on sql/."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["mypy"],
        ["sqlfluff", "lint", "sql"],
    ],
    ids=["ruff", "ruff-format", "mypy", "sqlfluff"],
)
def test_lint(command):
    done = subprocess.run([str(BIN / command[0]), *command[1:]], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
