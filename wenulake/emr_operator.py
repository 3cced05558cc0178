"""The Amazon provider's `EmrServerlessStartJobOperator`, fed by wenulake's settings and the task's interval.

At parse time the job driver holds the entry point and `sparkSubmitParameters` (wenulake.emr); at run time
`execute` adds the arguments (`--start/--end` from Params or the data interval, exactly as the in-process task
reads them, `--run-id` the Airflow run id the gate then reads, `--step stage`) and lets the provider start the
job run and wait for it (no deferral: the waiting is plain polling of GetJobRun). A run that ends FAILED or
CANCELLED (or outlives WENULAKE_EMR_MAX_POLLS checks, then cancelled) fails the task with the run's own reason.
Imported only in emr-serverless mode (wenulake.spark_steps), so local installs never load the provider.
"""

from __future__ import annotations

from typing import Any

from airflow.exceptions import AirflowException
from airflow.providers.amazon.aws.operators.emr import EmrServerlessStartJobOperator

from wenulake import emr
from wenulake.settings import Settings


class SparkJobRunOperator(EmrServerlessStartJobOperator):
    """One Spark step of a wenulake job (`jobs/<job>.py --step stage`) as an EMR Serverless job run."""

    def __init__(self, *, job: str, settings: Settings, **kwargs: Any) -> None:
        emr.check(settings)
        super().__init__(
            application_id=settings.emr_application_id or "",
            execution_role_arn=settings.emr_job_role_arn or "",
            job_driver=emr.job_driver(settings, job),
            configuration_overrides=emr.configuration_overrides(settings),
            wait_for_completion=True,
            deferrable=False,
            waiter_delay=settings.emr_poll_seconds,
            waiter_max_attempts=settings.emr_max_polls,
            aws_conn_id=None,  # boto3's own chain: the MWAA execution role; AWS_ENDPOINT_URL_EMR_SERVERLESS (moto)
            region_name=settings.s3_region,
            **kwargs,
        )
        self.job = job

    def execute(self, context: Any, event: dict[str, Any] | None = None) -> str | None:
        from wenulake.tasks import allow_missing_objects, interval_of

        run_id = str(context["run_id"])
        allow = self.job == "bronze" and allow_missing_objects(context)
        arguments = emr.job_arguments(interval_of(context), run_id, allow)
        self.job_driver = {
            "sparkSubmit": {**self.job_driver["sparkSubmit"], "entryPointArguments": arguments}
        }
        self.name = emr.job_name(self.job, run_id)
        try:
            return super().execute(context, event)
        except AirflowException as exc:
            if not self.job_id:
                raise
            client: Any = self.hook.conn
            run = client.get_job_run(applicationId=self.application_id, jobRunId=self.job_id)["jobRun"]
            state, reason = run["state"], run.get("stateDetails") or "no reason given"
            raise AirflowException(
                f"{self.task_id}: EMR Serverless job run {self.job_id} of jobs/{self.job}.py ended {state}: "
                f"{reason}"
            ) from exc
