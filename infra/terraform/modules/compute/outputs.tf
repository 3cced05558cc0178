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

