variable "region" {
  description = "AWS region of the deployment."
  type        = string
  default     = "eu-west-1"
}

variable "environment" {
  description = "Deployment name, part of every resource name (dev, staging, prod)."
  type        = string
  default     = "dev"
}

variable "stage_expiry_days" {
  description = "Days after which warehouse stage files are deleted by the bucket lifecycle."
  type        = number
  default     = 7
}
