"""The SparkSession: one per process, configured from Settings (local[*] or a cluster).

`WENULAKE_SPARK_MODE`: `local` (default) = `WENULAKE_SPARK_MASTER` (`local[*]`); `cluster` = a standalone
master (`spark://HOST:7077`), the session ships the package archive to the executors (docs/adr/0012-cluster-mode.md);
`emr-serverless` = the session of a job run EMR Serverless started (spark-submit set master and archive;
docs/adr/0017-emr-serverless-and-redshift.md).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from wenulake.errors import ConfigError
from wenulake.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def _jvm_stderr_to_log() -> Callable[[], None]:
    """While the JVM starts, point file descriptor 2 at a pipe: the JVM keeps it as its stderr, and a thread
    logs each line to `wenulake.spark.jvm` at the line's own level (INFO, or WARNING/ERROR when the JVM says
    WARN/ERROR). Under Airflow a task's raw stderr is shown as ERROR; the JVM's warnings are not errors.
    Returns the function that gives this process its stderr back (lines are logged only after that, so a log
    handler writing to stderr cannot feed the pipe)."""
    jvm_log = logging.getLogger("wenulake.spark.jvm")
    read_fd, write_fd = os.pipe()
    saved = os.dup(2)
    sys.stderr.flush()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    restored = threading.Event()

    def pump() -> None:
        with os.fdopen(read_fd, "rb") as stream:
            for raw in stream:
                restored.wait()
                line = raw.decode(errors="replace").rstrip()
                if not line:
                    continue
                level = (
                    logging.ERROR
                    if " ERROR " in line or line.startswith(("ERROR", "Exception"))
                    else logging.WARNING
                    if " WARN " in line or line.startswith("WARN")
                    else logging.INFO
                )
                jvm_log.log(level, "%s", line)

    threading.Thread(target=pump, name="spark-jvm-stderr", daemon=True).start()

    def restore() -> None:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        restored.set()

    return restore


def get_spark(settings: Settings, app_name: str = "wenulake") -> SparkSession:
    """Get or create the session. Python workers run this interpreter (the venv's), so they have pyarrow
    and the wenulake package; the session time zone is UTC."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if settings.spark_master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    if settings.spark_mode == "emr-serverless":
        # inside an EMR Serverless job run: spark-submit set the master, the archive (--py-files), memory and
        # the Python of driver and executors (wenulake.emr); the session takes only the SQL settings below
        archive = None
    else:
        builder = builder.master(settings.spark_master).config(
            "spark.driver.memory", settings.spark_driver_memory
        )
        archive = None if settings.spark_master.startswith("local") else package_archive(settings)
    builder = (
        builder.appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "20000")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.extraJavaOptions", "-Dlog4j2.level=warn")
        .config("spark.python.worker.reuse", "true")
    )
    if archive:
        builder = builder.config("spark.executor.memory", settings.spark_executor_memory).config(
            "spark.pyspark.python", os.environ["PYSPARK_PYTHON"]
        )
    if settings.spark_driver_host:
        builder = builder.config("spark.driver.host", settings.spark_driver_host)
    for key, value in auth_conf(settings).items():
        builder = builder.config(key, value)
    from pyspark import SparkContext

    restore = _jvm_stderr_to_log() if SparkContext._gateway is None else None
    try:
        spark = builder.getOrCreate()
    finally:
        if restore:
            restore()
    spark.sparkContext.setLogLevel("WARN")
    if archive:
        # Executors get the package archive (once per session), so the decode functions `mapInArrow` sends
        # them import the driver's code, not whatever a worker has installed.
        sc = spark.sparkContext
        if archive.name not in getattr(sc, "_python_includes", []):
            sc.addPyFile(str(archive))
    return spark


def auth_conf(settings: Settings) -> dict[str, str]:
    """spark.authenticate with the cluster's shared secret (WENULAKE_SPARK_AUTH_SECRET): a standalone master
    without it runs code for whoever reaches port 7077."""
    if not settings.spark_auth_secret:
        return {}
    return {"spark.authenticate": "true", "spark.authenticate.secret": settings.spark_auth_secret}


def package_archive(settings: Settings) -> Path:
    """The archive cluster mode ships to executors; a clear error before any JVM starts when it is missing."""
    from wenulake.executor_package import package_path

    archive = package_path(settings)
    if not archive.is_file():
        raise ConfigError(
            f"cluster mode needs the package archive {archive} for the executors: build it with `make package` "
            "(or set WENULAKE_SPARK_PY_FILES)"
        )
    return archive
