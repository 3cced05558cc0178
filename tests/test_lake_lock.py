"""One writer per lake (issue 22, point 4): two commands on one lake at once, as real processes.

The second command is `wenulake replay`, a real lake-writing command that needs no Spark or Airflow run, so the
test stays cheap; the holder is a process holding the same lock the CLI takes (`wenulake.lakelock`)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from wenulake.errors import ConfigError, LakeLocked
from wenulake.lakelock import lake_lock, lock_location
from wenulake.settings import Settings

WENULAKE = [sys.executable, "-m", "wenulake"]

HOLDER = """
import sys
from wenulake.lakelock import lake_lock
from wenulake.settings import Settings
with lake_lock(Settings(), "test holder"):
    print("held", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


def start_holder(env: dict[str, str], script: str = HOLDER) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", script],
        env={**os.environ, **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held", holder.stderr.read() if holder.stderr else ""
    return holder


def release(holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None
    holder.stdin.write("\n")
    holder.stdin.flush()
    assert holder.wait(timeout=30) == 0


def wenulake(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WENULAKE, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    return {"WENULAKE_HOME": str(tmp_path / "home")}


def test_a_second_command_refuses_with_no_wait_naming_the_holder_in_one_line(home):
    holder = start_holder(home)
    try:
        done = wenulake("replay", "--no-wait", env=home)
    finally:
        release(holder)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: the lake is locked by pid {holder.pid} on {socket.gethostname()} ")
    assert "`test holder`" in lines[0]
    assert "Traceback" not in done.stderr
    assert str(Path(home["WENULAKE_HOME"]) / "lake.lock") in lines[0]


def test_a_second_command_waits_saying_who_holds_the_lock_then_runs(home):
    holder = start_holder(home)
    waiting = subprocess.Popen(
        [*WENULAKE, "replay"],
        env={**os.environ, **home},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert waiting.stderr is not None
        line = waiting.stderr.readline()
        assert line.startswith("waiting for the lake lock "), line
        assert f"held by pid {holder.pid} " in line
        assert "`test holder`" in line
        time.sleep(1)
        assert waiting.poll() is None  # still waiting while the holder holds the lake
    finally:
        release(holder)
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err
    assert "nothing to replay" in out
    # the lock file names the last holder: the command that ran after waiting
    last = json.loads((Path(home["WENULAKE_HOME"]) / "lake.lock").read_text())
    assert last["command"] == "wenulake replay"
    assert last["pid"] == waiting.pid


def test_a_holder_killed_with_sigkill_leaves_the_lake_free(home):
    holder = start_holder(home)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    done = wenulake("replay", "--no-wait", env=home)
    assert done.returncode == 0, done.stderr
    assert "nothing to replay" in done.stdout


def test_the_lock_is_reentrant_in_one_process_and_refuses_another(tmp_path):
    settings = Settings(home=tmp_path / "home")  # type: ignore[call-arg]
    with lake_lock(settings, "outer"), lake_lock(settings, "inner (run_range under the CLI)", wait=False):
        pass
    holder = start_holder({"WENULAKE_HOME": str(tmp_path / "home")})
    try:
        with (
            pytest.raises(LakeLocked, match=rf"locked by pid {holder.pid} "),
            lake_lock(settings, "x", wait=False),
        ):
            pass
    finally:
        release(holder)


# -- S3: a lock object written with a conditional put, on moto's server -------------------------------------------
@pytest.fixture
def s3_lake(moto_endpoint: str, tmp_path: Path, request) -> dict[str, str]:
    import boto3

    bucket = "lock-" + request.node.name.replace("_", "-")[-40:].strip("-").lower()
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return {
        "WENULAKE_HOME": str(tmp_path / "home"),
        "WENULAKE_LAKE": f"s3://{bucket}/lake",
        "WENULAKE_S3_ENDPOINT_URL": moto_endpoint,
        "WENULAKE_LAKE_LOCK_TTL": "3",
    }


def settings_of(env: dict[str, str]) -> Settings:
    return Settings(
        home=Path(env["WENULAKE_HOME"]),  # type: ignore[call-arg]
        lake=env["WENULAKE_LAKE"],
        s3_endpoint_url=env["WENULAKE_S3_ENDPOINT_URL"],
        lake_lock_ttl=float(env["WENULAKE_LAKE_LOCK_TTL"]),
    )


def lock_object(env: dict[str, str]) -> dict[str, str] | None:
    import boto3

    bucket, _, key = lock_location(settings_of(env)).removeprefix("s3://").partition("/")
    client = boto3.client("s3", endpoint_url=env["WENULAKE_S3_ENDPOINT_URL"], region_name="us-east-1")
    try:
        return dict(json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read()))
    except client.exceptions.NoSuchKey:
        return None


@pytest.mark.s3
def test_s3_lock_object_is_exclusive_renewed_by_its_holder_and_deleted_on_release(s3_lake):
    settings = settings_of(s3_lake)
    assert lock_location(settings) == s3_lake["WENULAKE_LAKE"] + ".lock"
    holder = start_holder(s3_lake)
    try:
        held = lock_object(s3_lake)
        assert held is not None
        assert held["pid"] == holder.pid
        assert held["command"] == "test holder"
        with (
            pytest.raises(LakeLocked, match=rf"locked by pid {holder.pid} .*`test holder`"),
            lake_lock(settings, "second", wait=False),
        ):
            pass
        time.sleep(4.5)  # longer than the TTL: the holder's heartbeat keeps it
        renewed = lock_object(s3_lake)
        assert renewed is not None
        assert renewed["expires"] > held["expires"]
        assert renewed["started"] == held["started"]
        with pytest.raises(LakeLocked), lake_lock(settings, "second", wait=False):
            pass
    finally:
        release(holder)
    assert lock_object(s3_lake) is None  # released: the object is gone
    with lake_lock(settings, "second", wait=False):
        assert lock_object(s3_lake)["command"] == "second"  # type: ignore[index]
    assert lock_object(s3_lake) is None


@pytest.mark.s3
def test_s3_lock_of_a_holder_killed_with_sigkill_expires_and_is_taken_over(s3_lake):
    settings = settings_of(s3_lake)
    holder = start_holder(s3_lake)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    assert lock_object(s3_lake) is not None  # nobody deleted it
    with (
        pytest.raises(LakeLocked, match=rf"locked by pid {holder.pid} "),
        lake_lock(settings, "too early", wait=False),
    ):
        pass
    lines: list[str] = []
    started = time.monotonic()
    with lake_lock(settings, "after expiry", on_wait=lines.append):
        waited = time.monotonic() - started
        assert lock_object(s3_lake)["command"] == "after expiry"  # type: ignore[index]
    assert waited < 10
    assert len(lines) == 1
    assert f"held by pid {holder.pid} " in lines[0]


@pytest.mark.s3
def test_s3_lake_in_a_missing_bucket_fails_fast_in_one_line(moto_endpoint, tmp_path):
    env = {
        "WENULAKE_HOME": str(tmp_path / "home"),
        "WENULAKE_LAKE": "s3://no-such-lake-bucket/lake",
        "WENULAKE_S3_ENDPOINT_URL": moto_endpoint,
        "WENULAKE_LAKE_LOCK_TTL": "3",
    }
    with (
        pytest.raises(ConfigError, match="bucket 'no-such-lake-bucket' does not exist"),
        lake_lock(settings_of(env), "x"),
    ):
        pass
    started = time.monotonic()
    done = wenulake("replay", env=env)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        f"error: bucket 'no-such-lake-bucket' does not exist at {moto_endpoint}: create it"
    )
    assert time.monotonic() - started < 30


COMMITTER = """
import sys
import pyarrow as pa
from deltalake import write_deltalake
from wenulake.settings import Settings
settings = Settings()
for i in range(5):
    write_deltalake(settings.lake_uri + "/t", pa.table({"writer": [sys.argv[1]], "i": [i]}), mode="append",
                    storage_options=settings.delta_storage_options())
"""


@pytest.mark.s3
def test_concurrent_delta_commits_on_s3_lose_nothing_with_the_lake_storage_options(s3_lake):
    """Two processes committing to one table at once (no lake lock): with the options the lake uses (conditional
    put, no unsafe rename) every commit lands, each in its own version."""
    from deltalake import DeltaTable, write_deltalake

    settings = settings_of(s3_lake)
    options = settings.delta_storage_options()
    write_deltalake(
        settings.lake_uri + "/t", pa.table({"writer": ["init"], "i": [0]}), storage_options=options
    )
    writers = [
        subprocess.Popen([sys.executable, "-c", COMMITTER, name], env={**os.environ, **s3_lake})
        for name in ("a", "b")
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    table = DeltaTable(settings.lake_uri + "/t", storage_options=options)
    assert table.version() == 10
    assert table.to_pyarrow_table().num_rows == 11


# -- S3 fencing: a holder that stalls past the TTL and is overtaken commits nothing ----------------------------------
STALLING_HOLDER = """
import sys
from datetime import UTC, datetime
import pyarrow as pa
from wenulake.contracts.tables import INGEST_LEDGER
from wenulake.errors import LakeLockLost
from wenulake.lake import Lake
from wenulake.lakelock import lake_lock
from wenulake.settings import Settings
settings = Settings()
hour = datetime(2026, 4, 4, tzinfo=UTC)
row = {"object_key": "sensors/2026/04/04/00/a.gz", "size": 10, "etag": None, "last_modified": hour, "records": 3,
       "accepted": 3, "quarantined": 0, "status": "ingested", "arrival_hour": hour, "run_id": "r",
       "ingested_at": hour}
with lake_lock(settings, "test holder"):
    lake = Lake(settings)
    lake.ensure([INGEST_LEDGER])
    print("held", flush=True)
    sys.stdin.readline()
    try:
        lake.append(INGEST_LEDGER, pa.Table.from_pylist([row]))
    except LakeLockLost as exc:
        print("lost:", exc, flush=True)
    else:
        print("committed", flush=True)
"""


def ledger_state(env: dict[str, str]) -> tuple[int, int]:
    from wenulake.contracts.tables import INGEST_LEDGER
    from wenulake.lake import Lake

    table = Lake(settings_of(env)).table(INGEST_LEDGER)
    return table.version(), table.to_pyarrow_table().num_rows


def commit_now(holder: subprocess.Popen[str]) -> str:
    assert holder.stdin is not None
    assert holder.stdout is not None
    holder.stdin.write("\n")
    holder.stdin.flush()
    line = holder.stdout.readline().strip()
    assert holder.wait(timeout=60) == 0, holder.stderr.read() if holder.stderr else ""
    return line


@pytest.mark.s3
def test_s3_holder_stalled_past_the_ttl_and_overtaken_commits_nothing(s3_lake):
    """The holder is frozen (SIGSTOP) longer than WENULAKE_LAKE_LOCK_TTL, so its heartbeat cannot renew; a second
    run takes the expired lock over; the holder, resumed, tries to commit: LakeLockLost, and the table is as the
    second run sees it (before: the stalled holder committed under the other run's lock)."""
    settings = settings_of(s3_lake)
    holder = start_holder(s3_lake, STALLING_HOLDER)
    before = ledger_state(s3_lake)
    try:
        os.kill(holder.pid, signal.SIGSTOP)
        waited: list[str] = []
        with lake_lock(settings, "second", on_wait=waited.append):
            assert waited
            assert f"held by pid {holder.pid} " in waited[0]
            assert lock_object(s3_lake)["command"] == "second"  # type: ignore[index]
            os.kill(holder.pid, signal.SIGCONT)
            line = commit_now(holder)
            assert ledger_state(s3_lake) == before  # nothing committed: same version, no row
            assert lock_object(s3_lake)["command"] == "second"  # type: ignore[index]  # the loser left it alone
    finally:
        if holder.poll() is None:
            os.kill(holder.pid, signal.SIGCONT)
            holder.kill()
    assert line.startswith(f"lost: this run lost the lake lock {s3_lake['WENULAKE_LAKE']}.lock ("), line
    assert f"it is now held by pid {os.getpid()} " in line
    assert "nothing was committed to ops.ingest_ledger; run the command again" in line
    assert lock_object(s3_lake) is None


@pytest.mark.s3
def test_s3_holder_whose_heartbeat_keeps_the_lease_commits(s3_lake):
    holder = start_holder(s3_lake, STALLING_HOLDER)
    version, rows = ledger_state(s3_lake)
    time.sleep(4.5)  # longer than the TTL: renewed by the heartbeat
    assert commit_now(holder) == "committed"
    assert ledger_state(s3_lake) == (version + 1, rows + 1)


def test_a_lost_lease_is_checked_before_every_lake_commit():
    """Each of the lake's Delta commit points checks the lease first (create/evolve, replace, append, a commit of
    files, delta-rs' own delete/merge through `writable`)."""
    import inspect

    from wenulake.lake import Lake

    for method in (Lake._create_or_evolve, Lake.replace, Lake.append, Lake.commit_files, Lake.writable):
        assert "check_lease(self.settings, spec.name)" in inspect.getsource(method), method.__name__


# -- the catalog service's replay jobs hold the lake lock -------------------------------------------------------------
def job_until(api, job_id: int, done, timeout: float = 120):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not done(state := api.get(f"/api/v1/jobs/{job_id}").json()):
        assert time.monotonic() < deadline, state
        time.sleep(0.2)
    return state


def test_a_replay_job_of_the_service_waits_for_the_lake_lock_fails_after_the_wait_and_runs_once_free(
    tmp_path,
):
    """`wenulake serve`'s worker runs a replay holding the lake's writer lock: while another process holds it the
    job waits (its result says for whom), fails after WENULAKE_SERVICE_LAKE_LOCK_WAIT naming the holder, and a job
    queued after the holder let go runs (before: the replay wrote the lake under the other run's lock)."""
    from tests.service_helpers import running_service

    home = tmp_path / "home"
    home.mkdir()
    holder = start_holder({"WENULAKE_HOME": str(home)})
    try:
        with (
            running_service(home, None, {"WENULAKE_SERVICE_LAKE_LOCK_WAIT": "4"}) as svc,
            svc.client("operator") as api,
        ):
            first = api.post("/api/v1/jobs", json={"kind": "replay"}).json()
            started = time.monotonic()
            waiting = job_until(api, first["job_id"], lambda s: s["status"] != "queued" and s["result"])
            assert waiting["status"] == "running", waiting
            assert waiting["result"].startswith(
                f"waiting for the lake lock {home / 'lake.lock'}, held by pid "
            )
            assert f"held by pid {holder.pid} " in waiting["result"]
            failed = job_until(api, first["job_id"], lambda s: s["status"] not in ("queued", "running"))
            assert time.monotonic() - started >= 4
            assert failed["status"] == "failed", failed
            assert failed["result"].startswith(
                f"LakeLocked: the lake is still locked by pid {holder.pid} on {socket.gethostname()} "
            )
            assert "`test holder`" in failed["result"]
            assert failed["result"].endswith(
                f"({home / 'lake.lock'}) after waiting 4 s (WENULAKE_SERVICE_LAKE_LOCK_WAIT): wait for that run "
                "to finish, then try again"
            )

            second = api.post("/api/v1/jobs", json={"kind": "replay"}).json()
            job_until(api, second["job_id"], lambda s: s["status"] == "running" and s["result"])
            release(holder)
            done = job_until(api, second["job_id"], lambda s: s["status"] not in ("queued", "running"))
            assert done["status"] == "done", done
            assert done["result"].startswith("nothing to replay")
            last = json.loads((home / "lake.lock").read_text())
            assert last["command"] == f"wenulake serve: replay job {second['job_id']}"
    finally:
        if holder.poll() is None:
            holder.kill()


@pytest.mark.s3
def test_s3_lock_waited_for_at_most_the_timeout_names_the_holder_and_the_setting(s3_lake):
    settings = settings_of(s3_lake)
    holder = start_holder(s3_lake)
    lines: list[str] = []
    started = time.monotonic()
    try:
        with (
            pytest.raises(LakeLocked) as refused,
            lake_lock(settings, "x", on_wait=lines.append, timeout=2, timeout_setting="WENULAKE_X"),
        ):
            pass
    finally:
        release(holder)
    assert 2 <= time.monotonic() - started < 10
    assert len(lines) == 1
    assert str(refused.value).startswith(f"the lake is still locked by pid {holder.pid} ")
    assert str(refused.value).endswith(
        "after waiting 2 s (WENULAKE_X): wait for that run to finish, then try again"
    )
