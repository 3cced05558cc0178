output "application_id" {
  description = "EMR Serverless application id (StartJobRun target)."
  value       = aws_emrserverless_application.spark.id
}

output "application_arn" {
  description = "EMR Serverless application ARN."
  value       = aws_emrserverless_application.spark.arn
}

output "job_role_arn" {
  description = "Runtime role of the Spark jobs."
  value       = aws_iam_role.job.arn
}


output "jobs_uri" {
  description = "WENULAKE_EMR_JOBS_URI: s3:// prefix of the entry points jobs/bronze.py and jobs/silver.py."
  value       = local.jobs_uri
}

output "py_files_uri" {
  description = "WENULAKE_EMR_PY_FILES_URI: the package archive the job runs get as --py-files."
  value       = "s3://${var.code_bucket_name}/${aws_s3_object.package.key}"
}

output "python_env_uri" {
  description = "WENULAKE_EMR_PYTHON_ENV_URI: the packed Python environment (lock file's packages, aarch64) the deploy uploads."
  value       = "s3://${var.code_bucket_name}/${local.python_env_key}"
}

output "log_uri" {
  description = "WENULAKE_EMR_LOG_URI: where the job runs' logs go (the job role may write there)."
  value       = "s3://${var.code_bucket_name}/${local.log_prefix}/"
}
