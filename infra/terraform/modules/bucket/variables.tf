variable "bucket" {
  description = "Bucket name."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for SSE-KMS."
  type        = string
}

variable "log_bucket" {
  description = "Bucket receiving this bucket's server access logs."
  type        = string
}

variable "noncurrent_version_days" {
  description = "Days a replaced or deleted object version is kept."
  type        = number
}

variable "writer_role_arns" {
  description = "When not empty, only these IAM roles may put objects into the bucket (an explicit deny for every other principal)."
  type        = list(string)
  default     = []
}

variable "cloudtrail_source_arn" {
  description = "ARN of the CloudTrail trail allowed to deliver its log files here (AWSLogs/ prefix); null = none."
  type        = string
  default     = null
}

variable "expiry_days" {
  description = "Days after which current objects expire; null = never."
  type        = number
  default     = null
}
