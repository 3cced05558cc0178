"""The installed wheel carries its SQL files and Great Expectations suites (issue 20.4): built here, installed
into a scratch venv (its dependencies from this venv, not the checkout), and used outside the repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent

#: run by the wheel's interpreter, in a directory outside the checkout: one gate, passing then failing
GATE = """
import sys
from pathlib import Path

import pyarrow as pa

import wenulake
from wenulake import quality
from wenulake.errors import GateFailed
from wenulake.lake import Lake
from wenulake.settings import Settings
from wenulake.sqlfiles import load_sql

settings = Settings()
root = Path(sys.argv[1]).resolve()
for path in (Path(wenulake.__file__), settings.sql_dir, settings.expectations_dir):
    assert not path.resolve().is_relative_to(root), f"{path} is in the checkout"
    assert "site-packages" in str(path), path
assert "select" in load_sql(settings.sql_dir, "stats/daily")
facts = {"sensor_id": ["a", "b"], "ts": pa.array([1, 2], pa.timestamp("us", "UTC")), "value": [1.0, 2.0]}
good = pa.table({**facts, "sensor_in_dim": [True, True]})
bad = pa.table({**facts, "sensor_in_dim": [True, False]})
lake = Lake(settings)
passed = quality.gate(lake, settings.expectations_dir, [("gold_fact_reading", "fact_reading", good)], "r1", "gold", None)
print("passed", [r.success for r in passed])
try:
    quality.gate(lake, settings.expectations_dir, [("gold_fact_reading", "fact_reading", bad)], "r2", "gold", None)
except GateFailed as exc:
    print("failed", str(exc).splitlines()[0])
"""


@pytest.mark.slow
def test_the_installed_wheel_finds_its_sql_and_suites_outside_the_repository(tmp_path):
    # built from a copy (setuptools builds in the source tree): the package with its data links followed
    source = tmp_path / "source"
    shutil.copytree(ROOT / "wenulake", source / "wenulake", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", source)
    dist = tmp_path / "dist"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist)]
    build.append(str(source))
    subprocess.run(build, check=True, capture_output=True, cwd=tmp_path)
    [wheel] = dist.glob("wenulake-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    )  # fmt: skip
    # the dependencies: this venv's site-packages as a plain path after the scratch venv's own (a path line in
    # a .pth file: its own .pth files, among them the checkout's editable install, are not processed)
    (site / "zz_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    uv = Path(sys.executable).parent / "uv"
    subprocess.run(
        [uv, "pip", "install", "--python", python, "--no-deps", "-q", wheel], check=True, capture_output=True
    )
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {"PATH": "/usr/bin:/bin", "WENULAKE_HOME": str(outside / "home"), "HOME": str(outside)}
    done = subprocess.run(
        [python, "-c", GATE, str(ROOT)], cwd=outside, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "passed [True]" in done.stdout, done.stdout
    failed = [line for line in done.stdout.splitlines() if line.startswith("failed")]
    assert failed, done.stdout
    assert "gold_fact_reading" in failed[0]
