"""Package data: the SQL files and the Great Expectations suites, found through `importlib.resources` so that an
installed wheel (EMR, MWAA) finds them as a checkout does.

In the repository `sql/` and `expectations/` stay at the top level (the layout the guide names); `sql` and
`expectations` here are symlinks to them, which the wheel build copies in as package data (pyproject.toml).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def resource_dir(name: str) -> Path:
    """The folder of package data `name` (`sql`, `expectations`) on the file system."""
    return Path(str(files(__name__) / name))
