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

variable "expiry_days" {
  description = "Days after which current objects expire; null = never."
  type        = number
  default     = null
}
