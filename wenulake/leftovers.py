"""What failed runs leave behind, cleaned by the next run that holds the lake's writer lock.

- Staging batches of killed runs (`<lake>/_staging/<batch>/`: their manifests and the uncommitted data files they
  list). A batch is dropped when no run can still be writing it: the sweeping run holds the lake lock, so no other
  in-process run is active; when a scheduler of this Airflow home is alive (its runs do not take the lake lock),
  only batches untouched for WENULAKE_STAGING_GRACE_HOURS are dropped.
- Temporary copies of the DuckDB warehouse (`warehouse.duckdb.<pid>.replace|.upgrade|.tmp`, the loader's
  `.<pid>.tmp`) whose process is gone (a disk full or a kill -9 in the middle of a swap).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from wenulake.processes import pid_alive
from wenulake.settings import Settings, is_s3, join

log = logging.getLogger(__name__)

#: `<file>.<pid>.<suffix>`: the temporary copies atomic_copy and the DuckDB warehouse write beside a file
_TEMP_COPY = re.compile(r"^(?P<base>.+\.duckdb)\.(?P<pid>\d+)\.(?P<suffix>replace|upgrade|tmp)$")


def stale_warehouse_copies(settings: Settings) -> list[Path]:
    """Temporary warehouse copies in WENULAKE_HOME whose writing process no longer exists."""
    home = settings.home.absolute()
    if not home.is_dir():
        return []
    found = []
    for path in home.iterdir():
        matched = _TEMP_COPY.match(path.name)
        if matched and path.is_file() and not pid_alive(int(matched["pid"])):
            found.append(path)
    return sorted(found)


def staging_batches(settings: Settings) -> dict[str, datetime]:
    """Every staging batch under `<lake>/_staging/` with the time its newest object was written."""
    from wenulake.storage import StoreSpec

    root = settings.lake_uri
    batches: dict[str, datetime] = {}
    if not is_s3(root):
        staging = Path(root) / "_staging"
        if not staging.is_dir():
            return {}
        for batch in staging.iterdir():
            if not batch.is_dir():
                continue
            times = [p.stat().st_mtime for p in batch.rglob("*")] or [batch.stat().st_mtime]
            batches[batch.name] = datetime.fromtimestamp(max(times), tz=UTC)
        return batches
    store = StoreSpec.from_settings(root, settings).open()
    for info in store.list("_staging/"):
        parts = info.key.split("/")
        if len(parts) < 3:
            continue
        written = info.last_modified or datetime.now(UTC)
        batches[parts[1]] = max(batches.get(parts[1], written), written)
    return batches


def sweep(settings: Settings, scheduler_alive: bool) -> dict[str, list[str]]:
    """Drop the leftovers of failed runs; call it while holding the lake's writer lock. Returns what went."""
    from wenulake.lake import Lake

    removed: dict[str, list[str]] = {"staging": [], "warehouse": []}
    grace = timedelta(hours=settings.staging_grace_hours) if scheduler_alive else timedelta(0)
    cutoff = datetime.now(UTC) - grace
    batches = staging_batches(settings)
    if batches:
        lake = Lake(settings)
        for batch, written in sorted(batches.items()):
            if written <= cutoff:
                lake.drop_staging(batch)
                removed["staging"].append(batch)
    for path in stale_warehouse_copies(settings):
        path.unlink(missing_ok=True)
        removed["warehouse"].append(path.name)
    if removed["staging"] or removed["warehouse"]:
        log.warning(
            "cleaned leftovers of failed runs: staging batches %s, warehouse copies %s (under %s)",
            removed["staging"],
            removed["warehouse"],
            join(settings.lake_uri, "_staging"),
        )
    return removed
