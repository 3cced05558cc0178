"""The one Settings object. Every knob is a typed field read from a `WENULAKE_*` environment variable.

Nothing else in the project reads `os.environ` (AWS credentials excepted: boto3 and delta-rs read the
standard `AWS_*` variables themselves, as they do on AWS).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from functools import cached_property
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from wenulake.resources import resource_dir

REPO_ROOT = Path(__file__).resolve().parent.parent


def is_s3(location: str) -> bool:
    return location.startswith("s3://")


def join(location: str, *parts: str) -> str:
    """Join path parts onto a local path or an `s3://` URL."""
    base = location.rstrip("/")
    tail = "/".join(p.strip("/") for p in parts if p)
    return f"{base}/{tail}" if tail else base


class Settings(BaseSettings):
    """wenulake's configuration; defaults give the embedded, single-machine setup."""

    model_config = SettingsConfigDict(env_prefix="WENULAKE_", extra="ignore", frozen=True)

    home: Path = Field(
        default=Path(".wenulake"),
        description="Local state: lake, warehouse, catalog and Airflow home, unless set one by one.",
    )
    landing: str | None = Field(
        default=None,
        description="Firehose landing: local path or s3://bucket/prefix. Default $WENULAKE_HOME/landing.",
    )
    lake: str | None = Field(
        default=None,
        description="Delta lake root: local path or s3://bucket/prefix. Default $WENULAKE_HOME/lake.",
    )
    keyring: str | None = Field(
        default=None,
        description="Device keyring JSON: local path, s3:// URL or Secrets Manager secret ARN. Default "
        "$WENULAKE_HOME/keyring.json.",
    )
    keyring_ttl_seconds: float = Field(
        default=300.0,
        ge=0,
        description="Seconds a long-lived process (Spark or Airflow worker) keeps the keyring before reading "
        "it again, so rotated or revoked keys take effect without a restart (a local file is also re-read "
        "when its mtime changes).",
    )
    catalog_url: str | None = Field(
        default=None,
        description="Catalog database URL (postgresql://... or sqlite:///...). Default SQLite $WENULAKE_HOME/catalog.db.",
    )
    warehouse_url: str | None = Field(
        default=None,
        description="Warehouse: unset = DuckDB file $WENULAKE_HOME/warehouse.duckdb; postgresql://... = that server; "
        "redshift://USER@HOST:5439/DB = Redshift (COPY from the S3 stage, MERGE).",
    )
    warehouse_copy_role: str = Field(
        default="default",
        description="Redshift warehouse only: the IAM role COPY assumes to read the stage files (IAM_ROLE of "
        "`copy ... format as parquet`): a role ARN, or `default` = the namespace's default role.",
    )
    warehouse_reader_url: str | None = Field(
        default=None,
        description="PostgreSQL warehouse only: the analysts' read-only login (a member of the role "
        "wenulake_reader, which the warehouse DDL creates and grants SELECT); `wenulake sql` reads the "
        "warehouse only through it.",
    )
    warehouse_iam_workgroup: str | None = Field(
        default=None,
        description="Redshift Serverless only: the workgroup whose GetCredentials gives this process's IAM role "
        "temporary database credentials (user IAMR:<role>, an expiring password); the warehouse URLs then carry "
        "no user or password. The deployment sets it for MWAA, so no password is exported anywhere.",
    )
    stage: str | None = Field(
        default=None,
        description="Warehouse stage files: local path or s3:// URL. Default $WENULAKE_LAKE/stage.",
    )
    spark_mode: str = Field(
        default="local",
        pattern=r"^(local|cluster|emr-serverless)$",
        description="Where the sensors DAG's Spark steps (ingest_bronze, enrich_silver) run: local = an in-task "
        "session on WENULAKE_SPARK_MASTER (local[*] by default); cluster = an in-task driver of the standalone "
        "cluster WENULAKE_SPARK_MASTER=spark://HOST:7077 names (the package archive ships to its executors); "
        "emr-serverless = each step is an EMR Serverless job run of jobs/<stage>.py --step stage "
        "(WENULAKE_EMR_*), gates and publishing stay in Airflow.",
    )
    spark_master: str = Field(
        default="local[*]", description="Spark master URL: local[*] or spark://host:7077."
    )
    spark_driver_memory: str = Field(default="2g", description="Spark driver memory (spark.driver.memory).")
    spark_executor_memory: str = Field(
        default="1g", description="Memory per executor on a cluster (spark.executor.memory)."
    )
    spark_driver_host: str | None = Field(
        default=None,
        description="Address a cluster's executors reach the driver at (spark.driver.host); unset = Spark's "
        "choice (127.0.0.1 for local masters).",
    )
    spark_py_files: str | None = Field(
        default=None,
        description="The wenulake package archive shipped to a cluster's executors (addPyFile). Default: "
        "dist/wenulake-<version>.zip of this repo, built by `make package`.",
    )
    spark_auth_secret: str | None = Field(
        default=None,
        description="Shared secret of a standalone Spark cluster run with spark.authenticate (master, workers and "
        "this driver must agree); unset = no authentication (local mode).",
    )
    duckdb_memory_limit: str = Field(
        default="2GB",
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB|%)$",
        description="DuckDB's memory_limit in the pipeline's and analysts' sessions (gates, winners, alarms, publish, "
        "wenulake sql): beyond it the pipeline spills to $WENULAKE_HOME/tmp/duckdb and wenulake sql where DuckDB does "
        "(DuckDB's own default is 80% of the machine's memory). The stats' ordered aggregates, which cannot spill, "
        "run in sessions without it.",
    )
    spark_partitions: int = Field(
        default=0,
        ge=0,
        description="Spark parallelism of a batch: bronze and silver split it into twice this many tasks; "
        "0 = the Spark default parallelism.",
    )
    emr_application_id: str | None = Field(
        default=None,
        description="emr-serverless mode: the EMR Serverless application the Spark steps run on (Terraform "
        "output spark_application_id).",
    )
    emr_job_role_arn: str | None = Field(
        default=None,
        description="emr-serverless mode: the job runtime role (executionRoleArn) of the Spark steps (Terraform "
        "output spark_job_role_arn).",
    )
    emr_jobs_uri: str | None = Field(
        default=None,
        description="emr-serverless mode: s3:// prefix holding the entry points jobs/bronze.py and jobs/silver.py "
        "(entryPoint = <prefix>/<stage>.py).",
    )
    emr_py_files_uri: str | None = Field(
        default=None,
        description="emr-serverless mode: s3:// URI of the package archive `make package` builds "
        "(dist/wenulake-<version>.zip), passed as --py-files.",
    )
    emr_python_env_uri: str | None = Field(
        default=None,
        description="emr-serverless mode: s3:// URI of a packed Python environment (venv-pack .tar.gz of the "
        "lock file's packages) unpacked as ./environment for the driver and executors; unset = the release's "
        "own Python (which lacks deltalake, duckdb, ...).",
    )
    emr_log_uri: str | None = Field(
        default=None,
        description="emr-serverless mode: s3:// prefix of the job runs' logs (monitoringConfiguration).",
    )
    emr_poll_seconds: int = Field(
        default=30, ge=1, description="emr-serverless mode: seconds between two checks of a job run's state."
    )
    emr_max_polls: int = Field(
        default=240,
        ge=1,
        description="emr-serverless mode: checks before a job run still running is cancelled and the task "
        "fails (240 x 30 s = 2 h).",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="S3 endpoint for non-AWS servers (moto, MinIO). Credentials come from the AWS_* variables.",
    )
    s3_region: str = Field(default="us-east-1", description="AWS region for S3, DynamoDB and SNS clients.")
    s3_max_attempts: int = Field(
        default=4, ge=1, description="Attempts per S3 call before failing (with backoff)."
    )
    s3_connect_timeout: float = Field(default=5.0, gt=0, description="Seconds to wait for an S3 connection.")
    s3_retry_timeout: float = Field(
        default=20.0,
        gt=0,
        description="Seconds a lake (delta-rs) S3 call may spend retrying before the run fails with one line.",
    )
    staging_grace_hours: float = Field(
        default=6.0,
        ge=0,
        description="Staging batches of failed runs are dropped by the next in-process run; while a scheduler "
        "runs too, only those untouched for this many hours.",
    )
    lake_lock_ttl: float = Field(
        default=120.0,
        ge=3,
        description="Lake on S3: seconds the writer lock object lives without its holder's heartbeat (a holder "
        "killed with -9 blocks other runs this long at most).",
    )
    warehouse_connect_timeout: float = Field(
        default=10.0, ge=1, description="Seconds to wait for a PostgreSQL warehouse connection."
    )
    stats_retention_days: float = Field(
        default=400, gt=0, description="Days the stats serving store keeps a period, counted from its end."
    )
    stats_sink: str = Field(
        default="duckdb",
        pattern=r"^(duckdb|dynamodb)$",
        description="Stats serving store: duckdb ($WENULAKE_HOME/stats.duckdb) or dynamodb (the same rows in "
        "DynamoDB too, with a TTL attribute).",
    )
    stats_table: str = Field(
        default="wenulake-stats", description="DynamoDB table of the stats serving store."
    )
    dynamodb_endpoint_url: str | None = Field(
        default=None, description="DynamoDB endpoint for non-AWS servers (moto). Credentials from AWS_*."
    )
    alarm_flatline_minutes: int = Field(
        default=60, ge=1, description="Alarm rule flatline: minutes a gauge's value must stay unchanged."
    )
    alarm_gap_minutes: int = Field(
        default=30, ge=1, description="Alarm rule gap: minutes of silence from a device that open an alarm."
    )
    alarm_anomaly_window: int = Field(
        default=34560,
        ge=10,
        description="Alarm rule anomaly: minutes of trailing readings that make a reading's recent range "
        "(at most WENULAKE_ALARM_ANOMALY_MAX_POINTS of them, the latest).",
    )
    alarm_anomaly_max_points: int = Field(
        default=576,
        ge=2,
        description="Alarm rule anomaly: at most this many latest readings in a reading's recent range, "
        "unless more fall in the last WENULAKE_ALARM_ANOMALY_MIN_WINDOW minutes.",
    )
    alarm_anomaly_min_window: int = Field(
        default=2880,
        ge=0,
        description="Alarm rule anomaly: a reading's recent range holds at least the readings of this many "
        "minutes before it, however many (the window's time floor, so a fast sensor's range covers its daily "
        "cycle; at most WENULAKE_ALARM_ANOMALY_WINDOW).",
    )
    alarm_anomaly_margin: float = Field(
        default=0.05,
        ge=0,
        description="Alarm rule anomaly: a reading is anomalous beyond the recent max (or below the min) by "
        "more than this fraction of the recent range (max - min).",
    )
    alarm_anomaly_warmup: int = Field(
        default=1440,
        ge=0,
        description="Alarm rule anomaly: minutes of history a sensor needs in its window before its readings "
        "are judged (at most WENULAKE_ALARM_ANOMALY_WINDOW).",
    )
    alarm_anomaly_hold: int = Field(
        default=720,
        ge=1,
        description="Alarm rule anomaly: anomalous readings less than this many minutes after the previous "
        "one are the same episode; it ends at the first reading this long after the last.",
    )
    alarm_settle_hours: int = Field(
        default=3,
        ge=0,
        description="Alarms: hours a reading may arrive late (its arrival hour after its ts hour). A silence is "
        "judged only up to the first unprocessed landing hour minus this, and an alarm is notified (and opens "
        "a work order) only once the landing hours from its evidence to its start plus this are processed.",
    )
    alarm_notify_per_device_hour: int = Field(
        default=10,
        ge=1,
        description="Alarms: at most this many alarms starting in one hour on one device are announced "
        "(notified, work orders); the others are recorded as `suppressed` in ops.notification_outbox.",
    )
    alarm_previous_reading_days: int = Field(
        default=7,
        ge=1,
        description="Alarms: days before an evaluated span searched for each sensor's previous reading "
        "(counter_reset, flatline and gap look at it).",
    )
    alarm_gap_scope_hours: int = Field(
        default=48,
        ge=1,
        description="Alarms: devices with a reading in this many hours before a newly processed landing hour "
        "get their silence judged again by that run, even when none of their readings changed.",
    )
    alarm_cadence_days: int = Field(
        default=7,
        ge=1,
        description="Alarms: a device without report_interval_s in the catalog gets its cadence learned as the "
        "median inter-arrival of its messages over this many days before each silence.",
    )
    alarm_cadence_min_intervals: int = Field(
        default=12,
        ge=1,
        description="Alarms: intervals a learned cadence needs in its window; fewer = no cadence (the gap rule "
        "then uses WENULAKE_ALARM_GAP_MINUTES alone).",
    )
    alarm_gap_cadence_factor: float = Field(
        default=3.0,
        gt=0,
        description="Alarm rule gap: a gap is silence of at least max(WENULAKE_ALARM_GAP_MINUTES, this x the "
        "device's cadence).",
    )
    alarm_gap_merge_periods: float = Field(
        default=6.0,
        ge=0,
        description="Alarm rule gap: silences separated by less than this many cadence periods of reporting "
        "are one episode (flapping suppression); 0 = never merge.",
    )
    alarm_topic_arn: str | None = Field(
        default=None,
        description="SNS topic for alarm notifications; unset = the JSON-lines file WENULAKE_NOTIFICATIONS_FILE.",
    )
    workorder_topic_arn: str | None = Field(
        default=None,
        description="SNS topic of work-order events, where alarms publish the orders they open; unset = the "
        "events are written straight into the landing ($WENULAKE_LANDING/workorders/...).",
    )
    workorder_alarm_severity: str = Field(
        default="critical",
        pattern=r"^(info|warning|critical)$",
        description="Alarms opened with this severity open one work order each (order.created, source alarm).",
    )
    workorder_alarm_sla_hours: float = Field(
        default=4.0, gt=0, description="SLA hours of the work orders alarms open (priority urgent)."
    )
    sns_endpoint_url: str | None = Field(
        default=None, description="SNS endpoint for non-AWS servers (moto). Credentials from AWS_*."
    )
    secrets_endpoint_url: str | None = Field(
        default=None,
        description="Secrets Manager endpoint for non-AWS servers (moto), used when WENULAKE_KEYRING is a secret ARN.",
    )
    notifications_file: Path | None = Field(
        default=None,
        description="JSON-lines file of alarm notifications. Default $WENULAKE_HOME/notifications.jsonl.",
    )
    ops_topic_arn: str | None = Field(
        default=None,
        description="SNS topic of operational alerts (a task failed or retries, a gate failed, the sensors run is "
        "late); unset = the JSON-lines file WENULAKE_NOTIFICATIONS_FILE (records with kind=ops_alert).",
    )
    openlineage_file: Path | None = Field(
        default=None,
        description="Lineage: JSON-lines file the DAGs' OpenLineage events are written to (when "
        "WENULAKE_OPENLINEAGE_URL is unset). Default $WENULAKE_HOME/lineage/openlineage.jsonl.",
    )
    openlineage_url: str | None = Field(
        default=None,
        description="Lineage: HTTP endpoint of an OpenLineage backend (Marquez: http://HOST:5000); the events "
        "are POSTed to <url>/api/v1/lineage instead of the file.",
    )
    openlineage_namespace: str = Field(
        default="wenulake",
        description="Lineage: the OpenLineage namespace of the DAGs' jobs (a job is <dag_id>.<task_id>).",
    )
    sensors_deadline_minutes: float = Field(
        default=45,
        gt=0,
        description="Deadline of an hourly sensors run: one alert when the run of an hour has not finished this "
        "many minutes after the hour's end.",
    )
    sensors_catchup_start: datetime | None = Field(
        default=None,
        description="First hour the sensors and workorders DAGs schedule (catch-up starts there, ISO 8601 UTC); "
        "unset = the landing's first arrival hour (the current hour when the landing is empty).",
    )
    catchup_max_active_runs: int = Field(
        default=1,
        ge=1,
        le=4,
        description="Catch-up cap: runs of one hourly DAG at once (each starts a Spark JVM; 2 cores here).",
    )
    task_retries: int = Field(
        default=2, ge=0, description="Airflow retries of a task that failed transiently."
    )
    retry_delay_seconds: float = Field(
        default=30.0, ge=0, description="First retry delay (doubles each retry, at most 10 minutes)."
    )
    vacuum_retention_hours: float = Field(
        default=168,
        ge=0,
        description="Maintenance: hours a data file replaced by a newer table version is kept before VACUUM deletes "
        "it (time travel reaches back this far), and each table's log retention (delta.logRetentionDuration); never "
        "below WENULAKE_LONGEST_READER_HOURS.",
    )
    longest_reader_hours: float = Field(
        default=24,
        ge=0,
        description="Maintenance: the longest a reader holds one table snapshot (a backfill's range run, a "
        "Spark job, an analyst's time travel); VACUUM's retention may not be shorter.",
    )
    staging_retention_hours: float = Field(
        default=48,
        ge=0,
        description="Maintenance: a staging batch or stage-file folder untouched this long belongs to a finished "
        "run and is deleted (a younger one is treated as live and kept).",
    )
    status_spike_factor: float = Field(
        default=3.0,
        gt=0,
        description="wenulake status: a quarantine reason spikes when its last 24 h count exceeds this many times "
        "its daily average over the previous 7 days (and WENULAKE_STATUS_SPIKE_MIN).",
    )
    status_lookback_hours: int = Field(
        default=72,
        ge=1,
        description="wenulake status: landing hours this far back are checked for objects not ingested yet.",
    )
    status_spike_min: int = Field(
        default=20, ge=0, description="wenulake status: fewest rows in 24 h that can count as a spike."
    )
    airflow_home: Path | None = Field(
        default=None, description="AIRFLOW_HOME. Default $WENULAKE_HOME/airflow."
    )
    airflow_api_url: str = Field(
        default="http://127.0.0.1:8080",
        description="Airflow's API server (REST API v2): queued reprocessing is handed to it as a backfill when a "
        "scheduler of this Airflow home runs.",
    )
    airflow_api_username: str = Field(default="admin", description="User of Airflow's API server.")
    airflow_api_password: str | None = Field(
        default=None,
        description="Its password; default: the simple auth manager's generated password file in the Airflow home.",
    )
    gx_sample_rows: int = Field(
        default=20_000,
        ge=0,
        description="Quality gates: a batch of more rows is checked whole in DuckDB (every expectation of the "
        "suite compiled to SQL) and Great Expectations validates an evenly spread sample of this many rows; "
        "0 = GX validates every row.",
    )
    max_object_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1024,
        description="Hostile input cap: bytes a landed object (or legacy file) may hold, stored or once "
        "decompressed (streaming); a bigger one is corrupt_object (legacy: unreadable), the reason in detail.",
    )
    max_record_bytes: int = Field(
        default=256 * 1024,
        ge=256,
        description="Hostile input cap: bytes one record may hold; a bigger one is malformed_record "
        "(work orders: malformed_event).",
    )
    max_json_depth: int = Field(
        default=32,
        ge=2,
        description="Hostile input cap: JSON nesting one record may have; deeper is malformed_record "
        "(work orders: malformed_event).",
    )
    quarantine_raw_bytes: int = Field(
        default=4096,
        ge=64,
        description="Bytes of a quarantined piece kept in ops.quarantine.raw; a longer piece keeps this head, "
        "its length and its sha256.",
    )
    service_secret: str | None = Field(
        default=None,
        description="Catalog service: the key signing backoffice session cookies. Default a random key kept in "
        "$WENULAKE_HOME/service-secret (set it, from Secrets Manager, when several instances serve).",
    )
    service_secure_cookies: bool = Field(
        default=False, description="Catalog service: session cookies only over HTTPS (true behind a TLS ALB)."
    )
    service_login_failures: int = Field(
        default=5,
        ge=1,
        description="Failed sign-ins allowed per user name and per client address within a minute; more get 429.",
    )
    service_run_jobs: bool = Field(
        default=True,
        description="Catalog service: run queued catalog work (replays) in the server; false = leave it to "
        "`wenulake catalog apply`.",
    )
    service_lake_lock_wait: float = Field(
        default=600.0,
        ge=0,
        description="Catalog service: seconds a replay job waits for the lake's writer lock held by another run "
        "before it fails naming the holder.",
    )
    dags_folder: Path = Field(default=REPO_ROOT / "dags", description="Folder holding the DAG files.")
    expectations_dir: Path = Field(
        default=resource_dir("expectations"),
        description="Folder holding the Great Expectations suites (default: the package's, expectations/ here).",
    )
    sql_dir: Path = Field(
        default=resource_dir("sql"),
        description="Folder holding the SQL files (default: the package's, sql/ here).",
    )

    @field_validator(
        "landing",
        "lake",
        "keyring",
        "s3_endpoint_url",
        "catalog_url",
        "warehouse_url",
        "warehouse_reader_url",
        "stage",
        "dynamodb_endpoint_url",
        "alarm_topic_arn",
        "workorder_topic_arn",
        "sns_endpoint_url",
        "notifications_file",
        "openlineage_file",
        "openlineage_url",
        "spark_driver_host",
        "spark_py_files",
        "spark_auth_secret",
        "secrets_endpoint_url",
        "service_secret",
        "emr_application_id",
        "emr_job_role_arn",
        "emr_jobs_uri",
        "emr_py_files_uri",
        "emr_python_env_uri",
        "emr_log_uri",
        "airflow_api_password",
        "ops_topic_arn",
        "sensors_catchup_start",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _retention_covers_readers(self) -> Settings:
        if self.vacuum_retention_hours < self.longest_reader_hours:
            raise ValueError(
                f"WENULAKE_VACUUM_RETENTION_HOURS={self.vacuum_retention_hours:g} is shorter than "
                f"WENULAKE_LONGEST_READER_HOURS={self.longest_reader_hours:g}: VACUUM would delete files a "
                "running reader still needs"
            )
        return self

    @model_validator(mode="after")
    def _anomaly_warmup_in_window(self) -> Settings:
        if self.alarm_anomaly_warmup > self.alarm_anomaly_window:
            raise ValueError(
                f"WENULAKE_ALARM_ANOMALY_WARMUP={self.alarm_anomaly_warmup} is longer than "
                f"WENULAKE_ALARM_ANOMALY_WINDOW={self.alarm_anomaly_window}: no reading would ever be judged"
            )
        if self.alarm_anomaly_min_window > self.alarm_anomaly_window:
            raise ValueError(
                f"WENULAKE_ALARM_ANOMALY_MIN_WINDOW={self.alarm_anomaly_min_window} is longer than "
                f"WENULAKE_ALARM_ANOMALY_WINDOW={self.alarm_anomaly_window}: the window's time floor must lie "
                "inside it"
            )
        return self

    @model_validator(mode="after")
    def _mode_matches_master(self) -> Settings:
        if self.spark_mode == "cluster" and self.spark_master.startswith("local"):
            raise ValueError(
                "WENULAKE_SPARK_MODE=cluster needs WENULAKE_SPARK_MASTER=spark://HOST:PORT (it is "
                f"{self.spark_master!r})"
            )
        return self

    @cached_property
    def landing_uri(self) -> str:
        return self.landing or str((self.home / "landing").absolute())

    @cached_property
    def lake_uri(self) -> str:
        return self.lake or str((self.home / "lake").absolute())

    @cached_property
    def stage_uri(self) -> str:
        return self.stage or join(self.lake_uri, "stage")

    @cached_property
    def keyring_uri(self) -> str:
        return self.keyring or str((self.home / "keyring.json").absolute())

    @cached_property
    def notifications_file_path(self) -> Path:
        return (self.notifications_file or self.home / "notifications.jsonl").absolute()

    @cached_property
    def openlineage_file_path(self) -> Path:
        return (self.openlineage_file or self.home / "lineage" / "openlineage.jsonl").absolute()

    @cached_property
    def airflow_home_path(self) -> Path:
        return (self.airflow_home or self.home / "airflow").absolute()

    def to_env(self) -> dict[str, str]:
        """The explicitly set fields as WENULAKE_* variables: how a process hands its settings to tasks."""
        env = {}
        for name in sorted(self.model_fields_set):
            value = getattr(self, name)
            if value is not None:
                env[f"WENULAKE_{name.upper()}"] = str(value)
        return env

    def delta_storage_options(self) -> dict[str, str]:
        """Options for delta-rs when the lake is on S3 (credentials still come from AWS_* variables)."""
        if not is_s3(self.lake_uri):
            return {}
        # Concurrent writers: delta-rs 1.x writes each commit file with a conditional put (If-None-Match: *,
        # object_store's `conditional_put`), so two commits of one version cannot both win; the DynamoDB locking
        # provider (AWS_S3_LOCKING_PROVIDER) is gone in 1.x and AWS_S3_ALLOW_UNSAFE_RENAME is not needed.
        # Retries are bounded so an unreachable endpoint fails in seconds, not minutes.
        options = {
            "AWS_REGION": self.s3_region,
            "AWS_CONDITIONAL_PUT": "etag",
            "max_retries": str(max(self.s3_max_attempts - 1, 0)),
            "retry_timeout": f"{round(self.s3_retry_timeout * 1000)}ms",
            "connect_timeout": f"{round(self.s3_connect_timeout * 1000)}ms",
        }
        if self.s3_endpoint_url:
            options["AWS_ENDPOINT_URL"] = self.s3_endpoint_url
            if self.s3_endpoint_url.startswith("http://"):
                options["AWS_ALLOW_HTTP"] = "true"
        return options


_URL_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:@/]*:)(?P<password>[^@/]*)(?P<tail>@.*)$")
_QUERY_SECRET = re.compile(r"(?i)([?&](?:password|passwd|pwd|token|secret|sslpassword)=)[^&]*")


#: settings whose whole value is a secret: shown as *** when set
SECRET_SETTINGS = frozenset({"spark_auth_secret", "service_secret", "airflow_api_password"})


def masked(value: object) -> str:
    """A setting's value for display: the password of a URL (`scheme://user:***@host`) and secret query
    parameters (`password=`, `token=`, ...) replaced by `***`."""
    text = str(value)
    matched = _URL_PASSWORD.match(text)
    if matched and matched["password"]:
        text = f"{matched['head']}***{matched['tail']}"
    return _QUERY_SECRET.sub(r"\1***", text)


def report_path(settings: Settings, run_id: str, task_id: str) -> Path:
    """Where a task of a run writes its report (JSON): `$WENULAKE_HOME/runs/<run id>/<task id>.json`."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
    return settings.home.absolute() / "runs" / safe / f"{task_id}.json"


#: what an unset optional setting means, for settings whose default is not a value of their own
_UNSET_MEANS: dict[str, str] = {
    "warehouse_reader_url": "unset: the warehouse URL (DuckDB file or WENULAKE_WAREHOUSE_URL)",
    "warehouse_iam_workgroup": "unset: the URLs' own credentials",
    "spark_driver_host": "unset: Spark's choice",
    "spark_auth_secret": "unset: no Spark authentication",
    "s3_endpoint_url": "unset: AWS",
    "dynamodb_endpoint_url": "unset: AWS",
    "sns_endpoint_url": "unset: AWS",
    "secrets_endpoint_url": "unset: AWS",
    "alarm_topic_arn": "unset: alarm notifications go to the notifications file",
    "workorder_topic_arn": "unset: orders go straight into the landing",
    "ops_topic_arn": "unset: operational alerts go to the notifications file",
    "openlineage_url": "unset: lineage events go to the OpenLineage file",
    "service_secret": "unset: a key generated in $WENULAKE_HOME",
    "airflow_api_password": "unset: the simple auth manager's generated password file",
    "sensors_catchup_start": "unset: the landing's first hour",
    "emr_application_id": "unset: needed only with WENULAKE_SPARK_MODE=emr-serverless",
    "emr_job_role_arn": "unset: needed only with WENULAKE_SPARK_MODE=emr-serverless",
    "emr_jobs_uri": "unset: needed only with WENULAKE_SPARK_MODE=emr-serverless",
    "emr_py_files_uri": "unset: needed only with WENULAKE_SPARK_MODE=emr-serverless",
    "emr_python_env_uri": "unset: the EMR release's own Python",
    "emr_log_uri": "unset: EMR's default logging",
}


def effective_values(settings: Settings) -> dict[str, str]:
    """Every setting's effective value for display (`wenulake settings`): the value set, else the default that
    applies (marked `(default)`), else what leaving it unset means; secrets and URL passwords masked."""
    resolved: dict[str, Callable[[], object]] = {
        "landing": lambda: settings.landing_uri,
        "lake": lambda: settings.lake_uri,
        "keyring": lambda: settings.keyring_uri,
        "stage": lambda: settings.stage_uri,
        "catalog_url": lambda: f"sqlite:///{(settings.home / 'catalog.db').absolute()}",
        "warehouse_url": lambda: f"duckdb {(settings.home / 'warehouse.duckdb').absolute()}",
        "notifications_file": lambda: settings.notifications_file_path,
        "openlineage_file": lambda: settings.openlineage_file_path,
        "airflow_home": lambda: settings.airflow_home_path,
        "spark_py_files": lambda: f"{REPO_ROOT / 'dist'}/wenulake-<version>.zip",
    }
    shown: dict[str, str] = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if value is not None:
            text = "***" if name in SECRET_SETTINGS and value else masked(value)
        elif name in resolved:
            text = f"{masked(resolved[name]())} (default)"
        else:
            text = f"({_UNSET_MEANS.get(name, 'unset')})"
        shown[name] = text
    return shown
