"""The sensors DAG's Spark steps, picked by `WENULAKE_SPARK_MODE` so the DAG file stays wiring only.

`local` and `cluster`: an in-process `@task` calling `wenulake.tasks.<task_id>` (the task's SparkSession is the
driver); `emr-serverless`: a `SparkJobRunOperator` (wenulake.emr_operator) submitting `jobs/<job>.py --step stage`
to EMR Serverless and waiting for it. Either way the task id, its place in the DAG and what the gate after it
reads are the same.
"""

from __future__ import annotations

from typing import Any

from wenulake.emr import SPARK_STEPS
from wenulake.settings import Settings


def spark_step(settings: Settings, task_id: str, doc: str) -> Any:
    """The DAG node of one Spark step (`ingest_bronze` or `enrich_silver`), to be chained with `>>`."""
    job = SPARK_STEPS[task_id]
    if settings.spark_mode == "emr-serverless":
        from wenulake.emr_operator import SparkJobRunOperator

        return SparkJobRunOperator(task_id=task_id, job=job, settings=settings, doc_md=doc)
    from airflow.sdk import task

    def step(**context: Any) -> Any:
        from wenulake import tasks

        return getattr(tasks, task_id)(context)

    step.__name__ = step.__qualname__ = task_id
    step.__doc__ = doc
    return task(task_id=task_id)(step)()
