variable "region" {
  description = "AWS region of the deployment."
  type        = string
  default     = "eu-west-1"
}

variable "environment" {
  description = "Deployment name, part of every resource name (dev, staging, prod)."
  type        = string
  default     = "dev"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.environment))
    error_message = "environment must be 2-16 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "stage_expiry_days" {
  description = "Days after which warehouse stage files are deleted by the bucket lifecycle."
  type        = number
  default     = 7
}

variable "landing_prefix" {
  description = "Key prefix of the landing in its bucket: Firehose writes <prefix>/sensors/YYYY/MM/DD/HH/ and <prefix>/workorders/..."
  type        = string
  default     = "firehose"
}

variable "iot_topic_filter" {
  description = "MQTT topic filter of device messages; its third level is the device id."
  type        = string
  default     = "wenulake/sensors/+/messages"
}

variable "kinesis_retention_hours" {
  description = "Hours the Kinesis stream keeps device messages (24 = the buffer of the design; up to 8760)."
  type        = number
  default     = 24
  validation {
    condition     = var.kinesis_retention_hours >= 24 && var.kinesis_retention_hours <= 8760
    error_message = "kinesis_retention_hours must be between 24 and 8760."
  }
}

variable "firehose_buffer_seconds" {
  description = "Firehose buffering interval: a landing object at least every this many seconds (60-900, 1-15 min)."
  type        = number
  default     = 300
  validation {
    condition     = var.firehose_buffer_seconds >= 60 && var.firehose_buffer_seconds <= 900
    error_message = "firehose_buffer_seconds must be between 60 and 900."
  }
}

variable "firehose_buffer_mb" {
  description = "Firehose buffering size: a landing object once this many MB arrived (1-128)."
  type        = number
  default     = 128
  validation {
    condition     = var.firehose_buffer_mb >= 1 && var.firehose_buffer_mb <= 128
    error_message = "firehose_buffer_mb must be between 1 and 128."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps delivery logs (365 or more keeps a year of evidence)."
  type        = number
  default     = 365
}

variable "vpc_id" {
  description = "VPC of the private components (warehouse, Spark, Airflow); it needs S3, Secrets Manager, KMS, SNS, DynamoDB and Logs endpoints."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR block of that VPC (HTTPS egress to its endpoints)."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets of that VPC, in three availability zones (Redshift Serverless needs three; MWAA uses the first two)."
  type        = list(string)
  validation {
    condition     = length(var.private_subnet_ids) >= 3
    error_message = "private_subnet_ids needs at least three subnets."
  }
}

variable "redshift_base_capacity" {
  description = "Base RPUs of the Redshift Serverless workgroup (8-512, steps of 8)."
  type        = number
  default     = 8
}

variable "redshift_max_capacity" {
  description = "Most RPUs the workgroup may scale to (caps the warehouse cost)."
  type        = number
  default     = 32
}

variable "emr_release_label" {
  description = "EMR Serverless release for the Spark jobs."
  type        = string
  default     = "emr-7.9.0"
}

variable "spark_max_vcpu" {
  description = "Most vCPUs EMR Serverless may hold for wenulake's jobs (4 GB each): caps the Spark cost."
  type        = number
  default     = 32
}

variable "airflow_version" {
  description = "MWAA Airflow version."
  type        = string
  default     = "3.0.6"
}

variable "mwaa_environment_class" {
  description = "MWAA environment class; in-task Spark runs on its workers (mw1.large: 4 vCPU, 8 GB)."
  type        = string
  default     = "mw1.large"
}

variable "mwaa_max_workers" {
  description = "Most MWAA workers."
  type        = number
  default     = 4
}

variable "airflow_spark_master" {
  description = "WENULAKE_SPARK_MASTER of the tasks on MWAA: local[*] runs the in-task session on the worker."
  type        = string
  default     = "local[*]"
}

variable "catalog_url" {
  description = "WENULAKE_CATALOG_URL: PostgreSQL URL of the catalog database, without password (libpq reads PGPASSFILE); null = the catalog_service module's RDS database."
  type        = string
  default     = null
}

variable "public_subnet_ids" {
  description = "Public subnets (two AZs at least) of the catalog service's load balancer."
  type        = list(string)
}

variable "catalog_allowed_cidrs" {
  description = "Networks that may reach the catalog service (backoffice and API) on 443."
  type        = list(string)
}

variable "catalog_certificate_arn" {
  description = "ACM certificate of the catalog service's host name."
  type        = string
}

variable "catalog_image" {
  description = "Container image of wenulake run by the catalog service (the repo's Dockerfile), pinned."
  type        = string
}

variable "spark_mode" {
  description = "WENULAKE_SPARK_MODE of the tasks on MWAA: local runs the Spark steps in the task (works today, small deployments); emr-serverless submits them to the compute module's application (needs the packed Python environment, WENULAKE_EMR_PYTHON_ENV_URI, which this repository does not build yet)."
  type        = string
  default     = "local"
  validation {
    condition     = contains(["local", "emr-serverless"], var.spark_mode)
    error_message = "spark_mode is local or emr-serverless (MWAA has no standalone Spark cluster)."
  }
}

variable "package_archive" {
  description = "The package archive `make package` builds, uploaded for the EMR Serverless job runs."
  type        = string
  default     = "../../dist/wenulake-0.1.0.zip"
}

variable "warehouse_reader_role_names" {
  description = "IAM roles of the analysts who read the warehouse: each logs in as IAMR:<role>, a member of wenulake_reader (attach output warehouse_reader_policy_arn to them)."
  type        = list(string)
  default     = []
}
