"""Airflow's environment for wenulake: AIRFLOW_HOME under $WENULAKE_HOME, this repo's DAGs, SQLite metadata.

`prepare(settings)` must run before `airflow` is imported (Airflow reads its configuration at import time).
`python -m wenulake.airflow_home --exports` prints the same as shell exports (used by `make airflow`).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

from wenulake.settings import Settings

#: Airflow pool of the tasks that write lake or warehouse tables (the sensors and alarms DAGs' publishers, the
#: historical migration's months): one slot, so scheduled runs, backfills and migrations never write at once.
LAKE_WRITERS_POOL = "wenulake_lake_writers"


def environment(settings: Settings, logging_level: str = "INFO", in_process: bool = False) -> dict[str, str]:
    """Airflow's variables. Task logs are kept at INFO (what each task read, wrote, quarantined and checked);
    in-process runs (`wenulake run`) pass WARNING so the terminal shows only the run reports. Lineage: the
    OpenLineage provider's `[openlineage]` section (wenulake.lineage.airflow_config)."""
    from wenulake.lineage import airflow_config

    home = settings.airflow_home_path
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_folder.absolute()),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        # `make airflow` (airflow standalone) serves on the loopback interface only, and its workers reach the
        # execution API there (not on every interface, as Airflow's default 0.0.0.0 would)
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://127.0.0.1:8080/execution/",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": logging_level,
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "WENULAKE_HOME": str(settings.home.absolute()),
        "PYSPARK_PYTHON": sys.executable,
        **airflow_config(settings, in_process),
    }


def prepare(settings: Settings, logging_level: str = "INFO", in_process: bool = False) -> Path:
    """Point this process's Airflow at wenulake's home and make sure its metadata database exists
    (`in_process`: for DAG runs in this process, `wenulake run`)."""
    env = environment(settings, logging_level, in_process)
    for key, value in env.items():
        if key != "WENULAKE_HOME" or key not in os.environ:
            os.environ[key] = value
    home = settings.airflow_home_path
    home.mkdir(parents=True, exist_ok=True)
    if not settings.openlineage_url:
        settings.openlineage_file_path.parent.mkdir(parents=True, exist_ok=True)
    marker = home / ".db-migrated"
    if not marker.exists():
        done = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"airflow db migrate failed: {tail[0]}")
        marker.touch()
    pools = home / ".pools-v1"
    if not pools.exists():
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "airflow",
                "pools",
                "set",
                LAKE_WRITERS_POOL,
                "1",
                "wenulake lake writers",
            ],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"airflow pools set failed: {tail[0]}")
        pools.touch()
    return home


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Airflow environment of wenulake")
    parser.add_argument("--exports", action="store_true", help="print shell exports of the environment")
    parser.add_argument("--print-login", action="store_true", help="print how to open the UI")
    args = parser.parse_args(argv)
    settings = Settings()
    if args.exports:
        prepare(settings)
        for key, value in environment(settings).items():
            print(f"export {key}={shlex.quote(value)}")
    if args.print_login:
        home = settings.airflow_home_path
        print(
            "Airflow UI: http://127.0.0.1:8080  user: admin  password: see "
            f"{home / 'simple_auth_manager_passwords.json.generated'} (written at first start)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())


#: a scheduler that heartbeat within this many seconds counts as running
HEARTBEAT_SECONDS = 60


def scheduler_alive(settings: Settings, within: int = HEARTBEAT_SECONDS) -> bool:
    """A running scheduler of this Airflow home: a SchedulerJob that heartbeat within `within` seconds."""
    prepare(settings)
    from datetime import UTC, datetime, timedelta

    from airflow.jobs.job import Job
    from airflow.utils.session import create_session
    from sqlalchemy import select

    since = datetime.now(UTC) - timedelta(seconds=within)
    with create_session() as session:
        beat = session.scalar(
            select(Job.latest_heartbeat)
            .where(Job.job_type == "SchedulerJob", Job.state == "running", Job.latest_heartbeat >= since)
            .limit(1)
        )
    return beat is not None
