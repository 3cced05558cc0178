variable "name" {
  description = "Name prefix of the deployment (wenulake-<environment>)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key encrypting the secret."
  type        = string
}

variable "recovery_window_days" {
  description = "Days a deleted keyring can still be restored (7-30)."
  type        = number
  default     = 30
}
