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

output "workgroup_name" {
  description = "Name of the workgroup (WENULAKE_WAREHOUSE_IAM_WORKGROUP: GetCredentials gives the temporary database user)."
  value       = aws_redshiftserverless_workgroup.this.workgroup_name
}

output "loader_user" {
  description = "Database user of the loader (IAM temporary credentials, a member of wenulake_loader)."
  value       = local.loader_user
}

output "reader_policy_arn" {
  description = "IAM policy to attach to the analysts' roles (reader_role_names) so they can log in as their reader users."
  value       = aws_iam_policy.reader.arn
}
