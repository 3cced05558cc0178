"""EMR Serverless job runs of the sensors DAG's Spark steps (`WENULAKE_SPARK_MODE=emr-serverless`).

`ingest_bronze` and `enrich_silver` become StartJobRun calls of `jobs/bronze.py` / `jobs/silver.py` with
`--step stage` (the same `ingest` / `enrich` functions the in-process tasks call); their gates and publishing stay
in Airflow and read what the job staged. This module builds the job spec from Settings (no Airflow import, so
tests and docs use it directly); `wenulake.emr_operator` sends it with the Amazon provider's operator.

What the job run gets: the entry point `<WENULAKE_EMR_JOBS_URI>/<stage>.py`, the interval and run id as
arguments, and in `sparkSubmitParameters` the package archive (`--py-files`), driver and executor memory, an
optional packed Python environment (`spark.archives`), and the task's WENULAKE_* settings as the driver's and
executors' environment (`spark.emr-serverless.driverEnv.*`, `spark.executorEnv.*`) with
`WENULAKE_SPARK_MODE=emr-serverless`, so `Settings()` in the job reads what the task would have read.
See docs/adr/0017-emr-serverless-and-redshift.md.
"""

from __future__ import annotations

from typing import Any

from wenulake.errors import ConfigError
from wenulake.settings import Settings, is_s3, join, masked
from wenulake.timeutil import Interval, iso

#: DAG task -> job (jobs/<job>.py)
SPARK_STEPS = {"ingest_bronze": "bronze", "enrich_silver": "silver"}

#: settings of the Airflow side or of the submission itself: never sent to a job run
NOT_SENT = frozenset(
    {
        "home",
        "airflow_home",
        "dags_folder",
        "expectations_dir",
        "sql_dir",
        "spark_mode",
        "spark_master",
        "spark_driver_host",
        "spark_py_files",
        "spark_auth_secret",
        "spark_driver_memory",
        "spark_executor_memory",
        "warehouse_url",
        "warehouse_reader_url",
        "service_secret",
        "service_secure_cookies",
        "service_run_jobs",
        "notifications_file",
        "task_retries",
        "retry_delay_seconds",
    }
)

#: the job run's scratch home (its local disk); the lake, landing and stage are the task's
JOB_HOME = "/tmp/wenulake"
#: where `spark.archives` unpacks WENULAKE_EMR_PYTHON_ENV_URI in the driver's and executors' working directory
PYTHON_ENV = "./environment/bin/python"

REQUIRED = ("emr_application_id", "emr_job_role_arn", "emr_jobs_uri", "emr_py_files_uri")


def check(settings: Settings) -> None:
    """A clear error, at DAG parse time, when a setting the submission needs is missing or not on S3."""
    missing = [f"WENULAKE_{name.upper()}" for name in REQUIRED if not getattr(settings, name)]
    if missing:
        raise ConfigError(f"WENULAKE_SPARK_MODE=emr-serverless needs {', '.join(missing)}")
    for name in ("emr_jobs_uri", "emr_py_files_uri", "emr_python_env_uri", "emr_log_uri"):
        value = getattr(settings, name)
        if value and not is_s3(value):
            raise ConfigError(f"WENULAKE_{name.upper()} must be an s3:// URI (it is {value!r})")


def entry_point(settings: Settings, job: str) -> str:
    return join(settings.emr_jobs_uri or "", f"{job}.py")


def job_environment(settings: Settings) -> dict[str, str]:
    """The WENULAKE_* variables of the job run: the task's explicitly set settings less the Airflow-side ones."""
    env = {
        key: value
        for key, value in settings.to_env().items()
        if key[len("WENULAKE_") :].lower() not in NOT_SENT and not key.startswith("WENULAKE_EMR_")
    }
    env["WENULAKE_HOME"] = JOB_HOME
    env["WENULAKE_SPARK_MODE"] = "emr-serverless"
    for key, value in env.items():
        if masked(value) != value:
            raise ConfigError(
                f"{key} holds a password or token: it would be readable in the job run's parameters; give the "
                "job its secrets through its role (Secrets Manager) instead"
            )
        if any(c.isspace() for c in value) or '"' in value or "'" in value:
            raise ConfigError(f"{key}={value!r}: a job run's setting cannot hold blanks or quotes")
    return dict(sorted(env.items()))


def spark_submit_parameters(settings: Settings) -> str:
    """`sparkSubmitParameters`: the package archive, memory, the Python environment and the settings."""
    conf = {
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.executor.memory": settings.spark_executor_memory,
    }
    if settings.emr_python_env_uri:
        conf["spark.archives"] = f"{settings.emr_python_env_uri}#environment"
        conf["spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON"] = PYTHON_ENV
        conf["spark.emr-serverless.driverEnv.PYSPARK_PYTHON"] = PYTHON_ENV
        conf["spark.executorEnv.PYSPARK_PYTHON"] = PYTHON_ENV
    for key, value in job_environment(settings).items():
        conf[f"spark.emr-serverless.driverEnv.{key}"] = value
        conf[f"spark.executorEnv.{key}"] = value
    parts = [f"--py-files {settings.emr_py_files_uri}"]
    parts += [f"--conf {key}={value}" for key, value in conf.items()]
    return " ".join(parts)


def job_arguments(interval: Interval, run_id: str, allow_missing_objects: bool = False) -> list[str]:
    """`entryPointArguments`: the Spark step of the job (`--step stage`) over the task's interval and run."""
    args = ["--start", iso(interval.start), "--end", iso(interval.end), "--run-id", run_id, "--step", "stage"]
    return [*args, "--allow-missing-objects"] if allow_missing_objects else args


def job_driver(settings: Settings, job: str, arguments: list[str] | None = None) -> dict[str, Any]:
    return {
        "sparkSubmit": {
            "entryPoint": entry_point(settings, job),
            "entryPointArguments": list(arguments or []),
            "sparkSubmitParameters": spark_submit_parameters(settings),
        }
    }


def configuration_overrides(settings: Settings) -> dict[str, Any] | None:
    """The job runs' logs under WENULAKE_EMR_LOG_URI (none set = EMR's managed storage only)."""
    if not settings.emr_log_uri:
        return None
    return {"monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": settings.emr_log_uri}}}


def job_name(job: str, run_id: str) -> str:
    """The job run's name: the job and the Airflow run (EMR allows 256 characters)."""
    return f"wenulake-{job}-{run_id}"[:256]
