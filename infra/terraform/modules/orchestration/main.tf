# Airflow on MWAA: private web server, every log type to CloudWatch under the deployment key, DAGs from the
# dags bucket. The execution role is what the DAGs' tasks may do: read the landing, write lake and stage,
# read the keyring, write the stats table, publish alarms, load the warehouse, submit Spark jobs.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  environment_name = "${var.name}-airflow"
  region           = data.aws_region.current.name
  arn_prefix       = "arn:${data.aws_partition.current.partition}"
  account          = data.aws_caller_identity.current.account_id
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["airflow.amazonaws.com", "airflow-env.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = var.execution_role_name
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "PublishAirflowMetrics"
    actions   = ["airflow:PublishMetrics"]
    resources = ["${local.arn_prefix}:airflow:${local.region}:${local.account}:environment/${local.environment_name}"]
  }
  statement {
    sid       = "ReadDags"
    actions   = ["s3:GetObject*", "s3:GetBucket*", "s3:List*"]
    resources = [var.bucket_arns["dags"], "${var.bucket_arns["dags"]}/*"]
  }
  statement {
    sid       = "WriteAirflowLogs"
    actions   = ["logs:CreateLogStream", "logs:CreateLogGroup", "logs:PutLogEvents", "logs:GetLogEvents", "logs:GetLogRecord", "logs:GetLogGroupFields", "logs:GetQueryResults", "logs:DescribeLogGroups"]
    resources = ["${local.arn_prefix}:logs:${local.region}:${local.account}:log-group:airflow-${local.environment_name}-*"]
  }
  statement {
    sid       = "UseMwaaCeleryQueue"
    actions   = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:SendMessage"]
    resources = ["${local.arn_prefix}:sqs:${local.region}:*:airflow-celery-*"]
  }
  statement {
    sid       = "ReadTheLanding"
    actions   = ["s3:GetObject"]
    resources = ["${var.bucket_arns["landing"]}/*"]
  }
  statement {
    sid       = "ReadWriteLakeAndStage"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${var.bucket_arns["lake"]}/*", "${var.bucket_arns["stage"]}/*"]
  }
  statement {
    sid       = "ListDataBuckets"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.bucket_arns["landing"], var.bucket_arns["lake"], var.bucket_arns["stage"]]
  }
  statement {
    sid       = "ReadTheKeyring"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.keyring_secret_arn]
  }
  statement {
    sid       = "ServeStats"
    actions   = ["dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:DescribeTable"]
    resources = [var.stats_table_arn]
  }
  statement {
    sid       = "PublishAlarms"
    actions   = ["sns:Publish"]
    resources = [var.alarm_topic_arn]
  }
  statement {
    sid       = "LoadTheWarehouseAsIamrUser" # temporary credentials of IAMR:<this role>, never the admin's
    actions   = ["redshift-serverless:GetCredentials"]
    resources = [var.warehouse_workgroup_arn]
  }
  statement {
    sid       = "SubmitSparkJobs"
    actions   = ["emr-serverless:StartJobRun", "emr-serverless:GetJobRun", "emr-serverless:CancelJobRun", "emr-serverless:GetApplication", "emr-serverless:StartApplication"]
    resources = [var.spark_application_arn, "${var.spark_application_arn}/jobruns/*"]
  }
  statement {
    sid       = "PassTheSparkJobRole"
    actions   = ["iam:PassRole"]
    resources = [var.spark_job_role_arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["emr-serverless.amazonaws.com"]
    }
  }
  statement {
    sid       = "UseTheDataKey"
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:Encrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "wenulake-dags"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# MWAA runs this script on every scheduler, worker and web server before Airflow starts: it exports the
# WENULAKE_* settings the tasks read (the values come from the other modules' outputs).
resource "aws_s3_object" "startup" {
  bucket     = var.dags_bucket_name
  key        = "startup.sh"
  kms_key_id = var.kms_key_arn
  content = join("\n", concat(
    ["#!/bin/sh", "# Written by Terraform (infra/terraform/modules/orchestration): the tasks' WENULAKE_* settings."],
    [for k in sort(keys(var.wenulake_settings)) : "export ${k}='${var.wenulake_settings[k]}'"],
    ["# no warehouse password: tasks log in with IAM temporary credentials (WENULAKE_WAREHOUSE_IAM_WORKGROUP)", ""],
  ))
}

resource "aws_mwaa_environment" "this" {
  name                             = local.environment_name
  airflow_version                  = var.airflow_version
  environment_class                = var.environment_class
  max_workers                      = var.max_workers
  execution_role_arn               = aws_iam_role.execution.arn
  source_bucket_arn                = var.bucket_arns["dags"]
  dag_s3_path                      = "dags/"
  requirements_s3_path             = "requirements.txt"
  kms_key                          = var.kms_key_arn
  webserver_access_mode            = "PRIVATE_ONLY"
  startup_script_s3_path           = aws_s3_object.startup.key
  startup_script_s3_object_version = aws_s3_object.startup.version_id
  airflow_configuration_options = {
    "core.load_examples" = "False"
  }
  network_configuration {
    security_group_ids = [var.security_group_id]
    subnet_ids         = slice(var.subnet_ids, 0, 2)
  }
  logging_configuration {
    dag_processing_logs {
      enabled   = true
      log_level = "INFO"
    }
    scheduler_logs {
      enabled   = true
      log_level = "INFO"
    }
    task_logs {
      enabled   = true
      log_level = "INFO"
    }
    webserver_logs {
      enabled   = true
      log_level = "WARNING"
    }
    worker_logs {
      enabled   = true
      log_level = "INFO"
    }
  }
  depends_on = [aws_iam_role_policy.execution]
}
