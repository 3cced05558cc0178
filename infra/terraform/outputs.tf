output "landing_uri" {
  description = "WENULAKE_LANDING for the deployed pipeline."
  value       = local.settings.WENULAKE_LANDING
}

output "lake_uri" {
  description = "WENULAKE_LAKE for the deployed pipeline."
  value       = local.settings.WENULAKE_LAKE
}

output "stage_uri" {
  description = "WENULAKE_STAGE: the warehouse stage bucket."
  value       = local.settings.WENULAKE_STAGE
}

output "keyring_secret_arn" {
  description = "WENULAKE_KEYRING: the Secrets Manager secret of the device keyring."
  value       = module.secrets.keyring_secret_arn
}

output "warehouse_url" {
  description = "WENULAKE_WAREHOUSE_URL: the Redshift Serverless endpoint; user and password come from IAM temporary credentials (WENULAKE_WAREHOUSE_IAM_WORKGROUP)."
  value       = local.settings.WENULAKE_WAREHOUSE_URL
}

output "warehouse_admin_secret_arn" {
  description = "Secrets Manager secret of the warehouse admin password (managed by Redshift; used by Terraform to create the loader and reader users, by nothing else)."
  value       = module.warehouse.admin_secret_arn
}

output "stats_table" {
  description = "WENULAKE_STATS_TABLE: the DynamoDB stats serving table (with WENULAKE_STATS_SINK=dynamodb)."
  value       = module.stats.table_name
}

output "alarm_topic_arn" {
  description = "WENULAKE_ALARM_TOPIC_ARN: the SNS topic of alarm notifications."
  value       = module.messaging.alarm_topic_arn
}

output "work_order_topic_arn" {
  description = "SNS topic of work-order events (delivered by Firehose into the landing's workorders/ prefix)."
  value       = module.messaging.work_order_topic_arn
}

output "alarm_queue_url" {
  description = "SQS queue receiving every alarm notification."
  value       = module.messaging.alarm_queue_url
}

output "spark_application_id" {
  description = "EMR Serverless application for jobs/*.py (StartJobRun)."
  value       = module.compute.application_id
}

output "spark_job_role_arn" {
  description = "Runtime role of the EMR Serverless jobs."
  value       = module.compute.job_role_arn
}

output "kms_key_arn" {
  description = "KMS key encrypting the deployment's data at rest."
  value       = module.encryption.key_arn
}

output "airflow_webserver_url" {
  description = "Private URL of the MWAA Airflow UI."
  value       = module.orchestration.webserver_url
}

output "wenulake_settings" {
  description = "Every WENULAKE_* setting the deployment feeds (the MWAA startup script exports them)."
  value       = local.settings
}

output "catalog_service_url" {
  description = "HTTPS URL of the catalog service's load balancer."
  value       = module.catalog_service.url
}

output "warehouse_reader_policy_arn" {
  description = "IAM policy letting the analysts' roles (warehouse_reader_role_names) log in as their read-only warehouse users."
  value       = module.warehouse.reader_policy_arn
}
