variable "name" {
  description = "Name prefix of the deployment (wenulake-<environment>): namespace and workgroup name."
  type        = string
}

variable "account_id" {
  description = "AWS account id (confused-deputy condition of the COPY role)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key encrypting the namespace and its admin secret."
  type        = string
}

variable "stage_bucket_arn" {
  description = "ARN of the warehouse stage bucket Redshift COPYs from."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the workgroup (at least three, in different availability zones)."
  type        = list(string)
}

variable "database" {
  description = "Database name of the warehouse."
  type        = string
  default     = "wenulake"
}

variable "admin_username" {
  description = "Admin user of the namespace (its password is managed by Redshift in Secrets Manager)."
  type        = string
  default     = "wenulake_admin"
}

variable "base_capacity" {
  description = "Base RPUs of the workgroup (8-512, steps of 8)."
  type        = number
}

variable "max_capacity" {
  description = "Maximum RPUs the workgroup may scale to (caps the cost)."
  type        = number
}

variable "security_group_id" {
  description = "Security group of the component (from the network module)."
  type        = string
}

variable "loader_role_name" {
  description = "IAM role that loads the warehouse (MWAA's execution role): its temporary database user IAMR:<name> is a member of wenulake_loader, not an admin."
  type        = string
}

variable "reader_role_names" {
  description = "IAM roles of analysts: each gets the database user IAMR:<name>, a member of wenulake_reader (SELECT on the published tables)."
  type        = list(string)
  default     = []
}
