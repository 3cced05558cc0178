output "endpoint" {
  description = "Host name of the workgroup endpoint."
  value       = aws_redshiftserverless_workgroup.this.endpoint[0].address
}

output "port" {
  description = "Port of the workgroup endpoint."
  value       = aws_redshiftserverless_workgroup.this.endpoint[0].port
}

output "database" {
  description = "Warehouse database name."
  value       = var.database
}

output "admin_username" {
  description = "Admin user name of the namespace."
  value       = var.admin_username
}

output "admin_secret_arn" {
  description = "Secrets Manager secret holding the admin password (managed by Redshift)."
  value       = aws_redshiftserverless_namespace.this.admin_password_secret_arn
}

output "workgroup_arn" {
  description = "ARN of the workgroup (for redshift-serverless:GetCredentials grants)."
  value       = aws_redshiftserverless_workgroup.this.arn
}


output "copy_role_arn" {
  description = "WENULAKE_WAREHOUSE_COPY_ROLE: the role COPY assumes to read the stage bucket (also the namespace's default)."
  value       = aws_iam_role.copy.arn
}
