# wenulake's AWS deployment: one root module wiring local modules, one per concern.
#
#   devices -> IoT rule -> Kinesis (24 h) -> Firehose -> landing bucket   (ingestion)
#   Airflow (MWAA) runs the DAGs: Spark in-task or on EMR Serverless       (orchestration, compute)
#   lake / stage buckets, Redshift Serverless warehouse, DynamoDB stats     (storage, warehouse, stats)
#   alarms and work orders on SNS with dead-letter queues                   (messaging)
#   device keyring in Secrets Manager; one customer key for data at rest    (secrets, encryption)
#   catalog API and backoffice on ECS Fargate behind an ALB, catalog on RDS  (catalog_service)
#
# Modules are local (nothing is downloaded), so checkov scans every resource they declare.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  name       = "wenulake-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  # the Firehose roles are named here: the landing bucket lets only them put objects (no module cycle)
  firehose_role_names = {
    sensors     = "${local.name}-firehose-sensors"
    work_orders = "${local.name}-firehose-work-orders"
  }
  # MWAA's execution role is named here too: the warehouse makes IAMR:<it> the (non-admin) loader user
  airflow_role_name = "${local.name}-airflow-execution"
  landing_writer_role_arns = [
    for role in values(local.firehose_role_names) : "arn:${data.aws_partition.current.partition}:iam::${local.account_id}:role/${role}"
  ]
  settings = {
    WENULAKE_LANDING             = "s3://${module.storage.bucket_names["landing"]}/${var.landing_prefix}"
    WENULAKE_LAKE                = "s3://${module.storage.bucket_names["lake"]}/lake"
    WENULAKE_STAGE               = "s3://${module.storage.bucket_names["stage"]}/stage"
    WENULAKE_KEYRING             = module.secrets.keyring_secret_arn
    WENULAKE_S3_REGION           = var.region
    WENULAKE_WAREHOUSE_URL       = "redshift://${module.warehouse.endpoint}:${module.warehouse.port}/${module.warehouse.database}?sslmode=require"
    WENULAKE_WAREHOUSE_COPY_ROLE = module.warehouse.copy_role_arn
    # the loader's user and password: IAM temporary credentials of MWAA's role (GetCredentials), never the admin
    WENULAKE_WAREHOUSE_IAM_WORKGROUP = module.warehouse.workgroup_name
    WENULAKE_CATALOG_URL             = coalesce(var.catalog_url, module.catalog_service.catalog_url)
    WENULAKE_STATS_SINK              = "dynamodb"
    WENULAKE_STATS_TABLE             = module.stats.table_name
    WENULAKE_ALARM_TOPIC_ARN         = module.messaging.alarm_topic_arn
    WENULAKE_SPARK_MASTER            = var.airflow_spark_master
    WENULAKE_SPARK_MODE              = var.spark_mode
    # the EMR Serverless job runs of the Spark steps (wenulake/emr.py): what the job role and the code upload match
    WENULAKE_EMR_APPLICATION_ID = module.compute.application_id
    WENULAKE_EMR_JOB_ROLE_ARN   = module.compute.job_role_arn
    WENULAKE_EMR_JOBS_URI       = module.compute.jobs_uri
    WENULAKE_EMR_PY_FILES_URI   = module.compute.py_files_uri
    WENULAKE_EMR_PYTHON_ENV_URI = module.compute.python_env_uri
    WENULAKE_EMR_LOG_URI        = module.compute.log_uri
    WENULAKE_HOME               = "/usr/local/airflow/wenulake"
  }
}

module "encryption" {
  source = "./modules/encryption"
  name   = local.name
}

module "storage" {
  source            = "./modules/storage"
  name              = local.name
  account_id        = local.account_id
  kms_key_arn       = module.encryption.key_arn
  stage_expiry_days = var.stage_expiry_days

  landing_writer_role_arns = local.landing_writer_role_arns
}

module "ingestion" {
  source             = "./modules/ingestion"
  name               = local.name
  account_id         = local.account_id
  kms_key_arn        = module.encryption.key_arn
  landing_bucket_arn = module.storage.bucket_arns["landing"]
  landing_prefix     = var.landing_prefix
  firehose_role_name = local.firehose_role_names["sensors"]
  iot_topic_filter   = var.iot_topic_filter
  retention_hours    = var.kinesis_retention_hours
  buffering_seconds  = var.firehose_buffer_seconds
  buffering_mb       = var.firehose_buffer_mb
  log_retention_days = var.log_retention_days
}

module "messaging" {
  source             = "./modules/messaging"
  name               = local.name
  account_id         = local.account_id
  kms_key_arn        = module.encryption.key_arn
  landing_bucket_arn = module.storage.bucket_arns["landing"]
  landing_prefix     = var.landing_prefix
  firehose_role_name = local.firehose_role_names["work_orders"]
  buffering_seconds  = var.firehose_buffer_seconds
  buffering_mb       = var.firehose_buffer_mb
  log_retention_days = var.log_retention_days
}

module "audit" {
  source              = "./modules/audit"
  name                = local.name
  kms_key_arn         = module.encryption.key_arn
  log_bucket          = module.storage.access_log_bucket
  watched_bucket_arns = [module.storage.bucket_arns["landing"]]
  log_retention_days  = var.log_retention_days
}

module "secrets" {
  source      = "./modules/secrets"
  name        = local.name
  kms_key_arn = module.encryption.key_arn
}

module "stats" {
  source      = "./modules/stats"
  table_name  = "${local.name}-stats"
  kms_key_arn = module.encryption.key_arn
}

module "network" {
  source   = "./modules/network"
  name     = local.name
  vpc_id   = var.vpc_id
  vpc_cidr = var.vpc_cidr
}

module "warehouse" {
  source            = "./modules/warehouse"
  name              = local.name
  account_id        = local.account_id
  kms_key_arn       = module.encryption.key_arn
  stage_bucket_arn  = module.storage.bucket_arns["stage"]
  subnet_ids        = var.private_subnet_ids
  security_group_id = module.network.security_group_ids["warehouse"]
  base_capacity     = var.redshift_base_capacity
  max_capacity      = var.redshift_max_capacity
  loader_role_name  = local.airflow_role_name
  reader_role_names = var.warehouse_reader_role_names
}

module "compute" {
  source             = "./modules/compute"
  name               = local.name
  account_id         = local.account_id
  kms_key_arn        = module.encryption.key_arn
  bucket_arns        = module.storage.bucket_arns
  keyring_secret_arn = module.secrets.keyring_secret_arn
  subnet_ids         = var.private_subnet_ids
  security_group_id  = module.network.security_group_ids["spark"]
  release_label      = var.emr_release_label
  max_vcpu           = var.spark_max_vcpu
  code_bucket_name   = module.storage.bucket_names["dags"]
  jobs_dir           = "${path.root}/../../jobs"
  package_archive    = var.package_archive
}

module "orchestration" {
  source                  = "./modules/orchestration"
  name                    = local.name
  kms_key_arn             = module.encryption.key_arn
  bucket_arns             = module.storage.bucket_arns
  dags_bucket_name        = module.storage.bucket_names["dags"]
  keyring_secret_arn      = module.secrets.keyring_secret_arn
  execution_role_name     = local.airflow_role_name
  warehouse_workgroup_arn = module.warehouse.workgroup_arn
  stats_table_arn         = module.stats.table_arn
  alarm_topic_arn         = module.messaging.alarm_topic_arn
  spark_application_arn   = module.compute.application_arn
  spark_job_role_arn      = module.compute.job_role_arn
  subnet_ids              = var.private_subnet_ids
  security_group_id       = module.network.security_group_ids["airflow"]
  airflow_version         = var.airflow_version
  environment_class       = var.mwaa_environment_class
  max_workers             = var.mwaa_max_workers
  wenulake_settings       = local.settings
}

module "catalog_service" {
  source                    = "./modules/catalog_service"
  name                      = local.name
  account_id                = local.account_id
  region                    = var.region
  kms_key_arn               = module.encryption.key_arn
  vpc_id                    = var.vpc_id
  vpc_cidr                  = var.vpc_cidr
  private_subnet_ids        = var.private_subnet_ids
  public_subnet_ids         = var.public_subnet_ids
  allowed_cidrs             = var.catalog_allowed_cidrs
  certificate_arn           = var.catalog_certificate_arn
  image                     = var.catalog_image
  access_logs_bucket        = module.storage.bucket_names["logs"]
  lake_bucket_arn           = module.storage.bucket_arns["lake"]
  keyring_secret_arn        = module.secrets.keyring_secret_arn
  client_security_group_ids = [module.network.security_group_ids["airflow"]]
  log_retention_days        = var.log_retention_days
  wenulake_settings         = local.settings
}
