variable "name" {
  description = "Name prefix of the deployment (wenulake-<environment>)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the deployment."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the VPC (where its service endpoints are)."
  type        = string
}
