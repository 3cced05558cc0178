variable "name" {
  description = "Name prefix of the deployment (wenulake-<environment>)."
  type        = string
}

variable "account_id" {
  description = "AWS account id (confused-deputy condition of the service roles)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key encrypting topics, queues, the delivery stream, objects and logs."
  type        = string
}

variable "landing_bucket_arn" {
  description = "ARN of the landing bucket."
  type        = string
}

variable "landing_prefix" {
  description = "Key prefix of the landing inside its bucket."
  type        = string
}

variable "buffering_seconds" {
  description = "Firehose buffering interval of work-order events in seconds (60-900)."
  type        = number
}

variable "buffering_mb" {
  description = "Firehose buffering size of work-order events in MB (1-128)."
  type        = number
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the delivery logs."
  type        = number
}

variable "firehose_role_name" {
  description = "Name of the Firehose delivery role (the landing bucket lets only the roles of these names put objects)."
  type        = string
}
