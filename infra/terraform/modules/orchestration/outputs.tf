output "environment_name" {
  description = "Name of the MWAA environment."
  value       = aws_mwaa_environment.this.name
}

output "webserver_url" {
  description = "Private URL of the Airflow UI."
  value       = aws_mwaa_environment.this.webserver_url
}

output "execution_role_arn" {
  description = "Execution role of the DAGs' tasks."
  value       = aws_iam_role.execution.arn
}

