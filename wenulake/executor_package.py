"""The package archive cluster mode ships to executors (`addPyFile`): `dist/wenulake-<version>.zip`, built by
`python -m wenulake.cluster package`. Developer tools (`wenulake/devtools/`: the sample generators) stay out.

Its own module so that `wenulake.spark` finds the archive without importing `wenulake.cluster` (which starts
clusters through `wenulake.spark`): no import cycle.
"""

from __future__ import annotations

import zipfile
from importlib.metadata import version
from pathlib import Path

from wenulake.settings import REPO_ROOT, Settings

PACKAGE_DIR = Path(__file__).resolve().parent
#: top-level folders of the package that executors never import
EXCLUDED = frozenset({"devtools"})
#: a fixed timestamp for every archive entry: the same sources give the same bytes
ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def default_package_path() -> Path:
    return REPO_ROOT / "dist" / f"wenulake-{version('wenulake')}.zip"


def package_path(settings: Settings) -> Path:
    return Path(settings.spark_py_files) if settings.spark_py_files else default_package_path()


def build_package(out: Path | None = None) -> Path:
    """Zip the wenulake package (its .py files and package data, no caches, no devtools) for `addPyFile`."""
    out = out or default_package_path()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".zip.tmp")
    files = sorted(
        p
        for p in PACKAGE_DIR.rglob("*")
        if p.is_file()
        and "__pycache__" not in p.parts
        and p.suffix not in {".pyc", ".pyo"}
        and p.relative_to(PACKAGE_DIR).parts[0] not in EXCLUDED
    )
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            info = zipfile.ZipInfo(f"wenulake/{path.relative_to(PACKAGE_DIR).as_posix()}", ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    tmp.replace(out)
    return out
