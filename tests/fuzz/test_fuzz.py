"""The fuzz targets run in `make test`: over their seeds in-process, then each under atheris for FUZZ_SECONDS
(default 10; 0 skips the atheris runs). `make fuzz` runs them longer. A crash fails the test with the input's
path; replay it with `python -m tests.fuzz.run TARGET --replay FILE` and keep it as a regression test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz import targets

ROOT = Path(__file__).resolve().parents[2]
SECONDS = int(os.environ.get("FUZZ_SECONDS", "10"))


@pytest.mark.parametrize("target", sorted(targets.TARGETS))
def test_seeds_pass_the_target(target: str) -> None:
    seeds = targets.seeds(target)
    assert len(seeds) >= 5
    for seed in seeds:
        targets.TARGETS[target](seed)


@pytest.mark.slow  # FUZZ_SECONDS of atheris per target, by design: make test runs it, make test-fast does not
@pytest.mark.timeout(SECONDS + 120)
@pytest.mark.skipif(SECONDS <= 0, reason="FUZZ_SECONDS=0")
@pytest.mark.parametrize("target", sorted(targets.TARGETS))
def test_fuzz_target_finds_no_crash(target: str, tmp_path: Path) -> None:
    pytest.importorskip("atheris", reason="atheris is in requirements.lock: run make venv")
    run = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.run", target, "--seconds", str(SECONDS), "--work", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SECONDS + 110,
    )
    crashes = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-")))
    report = f"{target}: exit {run.returncode}, inputs {crashes} in {tmp_path}\n{run.stderr[-4000:]}"
    assert not crashes, report
    assert run.returncode == 0, report
    assert "Done" in run.stderr, run.stderr[-2000:]
