variable "name" {
  description = "Name prefix of the deployment (wenulake-<environment>)."
  type        = string
}

variable "account_id" {
  description = "AWS account id (confused-deputy condition of the job role)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the data."
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

variable "subnet_ids" {
  description = "Private subnets of the Spark workers."
  type        = list(string)
}

variable "release_label" {
  description = "EMR release of the application (its Spark version must run the pinned PySpark API)."
  type        = string
}

variable "max_vcpu" {
  description = "Most vCPUs the application may hold at once (memory is 4 GB per vCPU): caps the cost."
  type        = number
}

variable "idle_minutes" {
  description = "Minutes without jobs after which the application stops."
  type        = number
  default     = 15
}

variable "security_group_id" {
  description = "Security group of the component (from the network module)."
  type        = string
}

variable "code_bucket_name" {
  description = "Bucket holding the job runs' code and logs (the dags bucket, its ARN is bucket_arns[\"dags\"])."
  type        = string
}

variable "jobs_dir" {
  description = "Local folder of the entry points uploaded for the job runs (the repo's jobs/)."
  type        = string
}

variable "package_archive" {
  description = "Local path of the package archive `make package` builds (dist/wenulake-<version>.zip)."
  type        = string
}
