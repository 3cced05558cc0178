variable "landing_writer_role_arns" {
  description = "The only IAM roles that may put objects into the landing bucket (the Firehose delivery roles)."
  type        = list(string)
}

variable "name" {
  description = "Name prefix of the deployment (wenulake-<environment>); buckets are <name>-landing, -lake, -stage, -dags, -access-logs."
  type        = string
}

variable "account_id" {
  description = "AWS account id (the only source account allowed to deliver access logs)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for SSE-KMS on the data buckets."
  type        = string
}

variable "stage_expiry_days" {
  description = "Days after which warehouse stage files are deleted."
  type        = number
}

variable "noncurrent_version_days" {
  description = "Days a replaced or deleted object version is kept in the landing, lake and DAG buckets."
  type        = number
  default     = 30
}

variable "access_log_days" {
  description = "Days S3 access logs are kept."
  type        = number
  default     = 365
}
