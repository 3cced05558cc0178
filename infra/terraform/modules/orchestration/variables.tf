variable "name" {
  description = "Name prefix of the deployment (wenulake-<environment>)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the environment and the data."
  type        = string
}

variable "bucket_arns" {
  description = "Bucket ARN per purpose (landing, lake, stage, dags)."
  type        = map(string)
}

variable "keyring_secret_arn" {
  description = "Secrets Manager secret of the device keyring."
  type        = string
}

variable "execution_role_name" {
  description = "Name of the MWAA execution role (the warehouse module makes IAMR:<name> its loader user)."
  type        = string
}

variable "warehouse_workgroup_arn" {
  description = "Redshift Serverless workgroup the DAGs load."
  type        = string
}

variable "stats_table_arn" {
  description = "DynamoDB stats table."
  type        = string
}

variable "alarm_topic_arn" {
  description = "SNS topic of alarm notifications."
  type        = string
}

variable "spark_application_arn" {
  description = "EMR Serverless application the DAGs submit Spark jobs to."
  type        = string
}

variable "spark_job_role_arn" {
  description = "Runtime role passed to the Spark jobs."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets; MWAA uses the first two (two availability zones)."
  type        = list(string)
}

variable "airflow_version" {
  description = "MWAA Airflow version (see docs/adr/0012-cluster-mode.md on the version gap to the lock file)."
  type        = string
}

variable "environment_class" {
  description = "MWAA environment class (mw1.small, mw1.medium, ...)."
  type        = string
}

variable "max_workers" {
  description = "Most Airflow workers MWAA may run."
  type        = number
}

variable "wenulake_settings" {
  description = "WENULAKE_* settings of the tasks, by variable name (exported by the MWAA startup script)."
  type        = map(string)
}

variable "security_group_id" {
  description = "Security group of the component (from the network module)."
  type        = string
}

variable "dags_bucket_name" {
  description = "Name of the DAG bucket (the startup script is written there)."
  type        = string
}
