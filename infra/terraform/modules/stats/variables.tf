variable "table_name" {
  description = "Name of the DynamoDB stats table (WENULAKE_STATS_TABLE)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key encrypting the table."
  type        = string
}
