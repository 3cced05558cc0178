"""Airflow's REST API (v2), the way a running Airflow is asked to do work: a backfill of the sensors DAG for queued
reprocessing (`wenulake.service.jobs`), and its progress.

Credentials: WENULAKE_AIRFLOW_API_USERNAME / _PASSWORD (default: `admin` and the simple auth manager's generated
password file in the Airflow home, as `make airflow` leaves it), exchanged for a JWT at `/auth/token`.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import httpx

from wenulake.errors import ConfigError, WenulakeError
from wenulake.settings import Settings
from wenulake.timeutil import Interval, iso

TIMEOUT = 30.0


def _password(settings: Settings) -> str:
    if settings.airflow_api_password:
        return settings.airflow_api_password
    generated = settings.airflow_home_path / "simple_auth_manager_passwords.json.generated"
    try:
        passwords = json.loads(generated.read_text())
        return str(passwords[settings.airflow_api_username])
    except (OSError, ValueError, KeyError):
        raise ConfigError(
            f"no password for Airflow's API user {settings.airflow_api_username!r}: set "
            f"WENULAKE_AIRFLOW_API_PASSWORD (or start Airflow with `make airflow`, which writes {generated})"
        ) from None


class AirflowApi:
    def __init__(self, settings: Settings) -> None:
        self.base = settings.airflow_api_url.rstrip("/")
        self.settings = settings
        self._client = httpx.Client(base_url=self.base, timeout=TIMEOUT)
        self._token: str | None = None

    def close(self) -> None:
        self._client.close()

    def _auth(self) -> dict[str, str]:
        if self._token is None:
            answer = self._request(
                "POST",
                "/auth/token",
                json={"username": self.settings.airflow_api_username, "password": _password(self.settings)},
                auth=False,
            )
            self._token = str(answer["access_token"])
        return {"Authorization": f"Bearer {self._token}"}

    def _request(self, method: str, path: str, auth: bool = True, **kwargs: Any) -> Any:
        headers = self._auth() if auth else {}
        try:
            response = self._client.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise WenulakeError(f"Airflow's API at {self.base} cannot be reached: {exc}") from exc
        if response.status_code >= 400:
            raise WenulakeError(
                f"Airflow's API refused {method} {path}: {response.status_code} {response.text[:300]}"
            )
        return response.json()

    def create_backfill(
        self, dag_id: str, interval: Interval, reprocess: str = "completed", max_active: int = 4
    ) -> dict[str, Any]:
        """A backfill of `dag_id` over the hours of `interval` (logical dates = the hours' starts, both ends
        included, as `wenulake.backfill.create_backfill` does)."""
        body = {
            "dag_id": dag_id,
            "from_date": iso(interval.start),
            "to_date": iso(interval.end - timedelta(hours=1)),
            "run_backwards": False,
            "dag_run_conf": {},
            "reprocess_behavior": reprocess,
            "max_active_runs": max_active,
        }
        return dict(self._request("POST", "/api/v2/backfills", json=body))

    def backfill(self, backfill_id: int) -> dict[str, Any]:
        return dict(self._request("GET", f"/api/v2/backfills/{backfill_id}"))

    def backfill_runs(self, dag_id: str, start: datetime, end: datetime) -> dict[str, int]:
        """States of the DAG's backfill runs with logical dates in [start, end]: {state: count}."""
        answer = self._request(
            "GET",
            f"/api/v2/dags/{dag_id}/dagRuns",
            params={
                "logical_date_gte": iso(start),
                "logical_date_lte": iso(end),
                "run_type": "backfill",
                "limit": 1000,
            },
        )
        states: dict[str, int] = {}
        for run in answer.get("dag_runs", []):
            states[str(run["state"])] = states.get(str(run["state"]), 0) + 1
        return states
