"""SQL lives in `.sql` files under `sql/`, loaded by name (`lake/accounting` -> sql/lake/accounting.sql)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from wenulake.errors import ConfigError


@cache
def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"SQL file {path} not found") from None


def load_sql(sql_dir: Path, name: str) -> str:
    return _read(sql_dir / f"{name}.sql")
