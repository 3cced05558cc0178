variable "name" {
  description = "Name prefix of every resource (wenulake-<environment>)."
  type        = string
}

variable "account_id" {
  description = "AWS account id, for the conditions of service trust policies."
  type        = string
}

variable "region" {
  description = "AWS region of the deployment (the ECS task's log configuration)."
  type        = string
}

variable "kms_key_arn" {
  description = "The deployment's customer managed key: RDS storage, Performance Insights, secrets and logs."
  type        = string
}

variable "vpc_id" {
  description = "The deployment's VPC."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the VPC: the tasks reach AWS service endpoints inside it on 443."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets (two AZs at least) of the tasks and of the catalog database."
  type        = list(string)
}

variable "public_subnet_ids" {
  description = "Public subnets (two AZs at least) of the load balancer."
  type        = list(string)
}

variable "allowed_cidrs" {
  description = "Networks that may reach the backoffice and API on 443 (the offices' and integrations' ranges)."
  type        = list(string)
}

variable "certificate_arn" {
  description = "ACM certificate of the service's host name (HTTPS only; TLS ends at the load balancer)."
  type        = string
}

variable "image" {
  description = "Container image of wenulake (the repo's Dockerfile), pinned by tag or digest."
  type        = string
}

variable "desired_count" {
  description = "Tasks of the service (2 = one per AZ)."
  type        = number
  default     = 2
}

variable "cpu" {
  description = "Fargate CPU units per task."
  type        = number
  default     = 512
}

variable "memory" {
  description = "Fargate memory per task, MiB."
  type        = number
  default     = 1024
}

variable "db_instance_class" {
  description = "RDS instance class of the catalog database."
  type        = string
  default     = "db.t4g.small"
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the service's and the WAF's logs."
  type        = number
  default     = 365
}

variable "access_logs_bucket" {
  description = "Bucket receiving the load balancer's access logs (SSE-S3; the storage module's log bucket)."
  type        = string
}

variable "lake_bucket_arn" {
  description = "ARN of the lake bucket: the quarantine inbox and impact previews read it."
  type        = string
}

variable "wenulake_settings" {
  description = "WENULAKE_* settings shared with Airflow (lake, landing, region...): the task's environment."
  type        = map(string)
}

variable "client_security_group_ids" {
  description = "Security groups of other catalog clients (Airflow's) allowed to reach the catalog database."
  type        = list(string)
  default     = []
}

variable "keyring_secret_arn" {
  description = "Secrets Manager secret of the device keyring: the service provisions, rotates and retires device keys in it."
  type        = string
}
