variable "name" {
  description = "Name prefix of the deployment (wenulake-<environment>)."
  type        = string
}

variable "account_id" {
  description = "AWS account id (confused-deputy condition of the service roles)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key encrypting the stream, the landing objects and the logs."
  type        = string
}

variable "landing_bucket_arn" {
  description = "ARN of the landing bucket."
  type        = string
}

variable "landing_prefix" {
  description = "Key prefix of the landing inside its bucket (WENULAKE_LANDING = s3://<bucket>/<prefix>)."
  type        = string
}

variable "iot_topic_filter" {
  description = "MQTT topic filter the devices publish to; the third level is the device id (partition key)."
  type        = string
}

variable "retention_hours" {
  description = "Hours the Kinesis stream keeps records (the buffer Firehose and replays read from)."
  type        = number
}

variable "buffering_seconds" {
  description = "Firehose buffering interval in seconds (60-900: objects every 1 to 15 minutes)."
  type        = number
}

variable "buffering_mb" {
  description = "Firehose buffering size in MB (1-128): an object is written when this much has arrived."
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
