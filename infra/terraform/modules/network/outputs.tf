output "security_group_ids" {
  description = "Security group id per component (airflow, spark, warehouse)."
  value       = { for k, g in aws_security_group.this : k => g.id }
}
