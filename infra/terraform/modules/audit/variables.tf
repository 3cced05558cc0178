variable "name" {
  description = "Name prefix of the deployment (wenulake-<environment>)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key encrypting the trail's log files, its bucket and its log group."
  type        = string
}

variable "log_bucket" {
  description = "Bucket receiving the trail bucket's server access logs."
  type        = string
}

variable "watched_bucket_arns" {
  description = "Buckets whose object-level operations (S3 data events) the trail records: the landing."
  type        = list(string)
}

variable "log_retention_days" {
  description = "Days the trail's CloudWatch log group and old log file versions are kept."
  type        = number
}
