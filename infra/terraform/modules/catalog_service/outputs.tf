output "url" {
  description = "HTTPS URL of the catalog service (point the certificate's host name at it)."
  value       = "https://${aws_lb.this.dns_name}"
}

output "catalog_url" {
  description = "WENULAKE_CATALOG_URL of the catalog database, without password (the RDS-managed secret has it)."
  value       = "postgresql://${aws_db_instance.catalog.username}@${aws_db_instance.catalog.address}:${aws_db_instance.catalog.port}/${aws_db_instance.catalog.db_name}?sslmode=require"
}

output "db_secret_arn" {
  description = "Secrets Manager secret (managed by RDS) holding the catalog database's password."
  value       = aws_db_instance.catalog.master_user_secret[0].secret_arn
}

output "service_security_group_id" {
  description = "Security group of the service's tasks."
  value       = aws_security_group.service.id
}

output "db_security_group_id" {
  description = "Security group of the catalog database (allow Airflow's group in it to share the catalog)."
  value       = aws_security_group.db.id
}
