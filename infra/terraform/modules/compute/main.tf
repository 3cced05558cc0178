# Spark on EMR Serverless: an application that starts on demand and stops when idle, in the private subnets,
# the job runtime role its jobs (jobs/*.py, the same entry points spark-submit runs) assume, and the code the
# job runs read from the dags bucket. With WENULAKE_SPARK_MODE=emr-serverless the sensors DAG submits
# `<jobs_uri>/<stage>.py --step stage` with `--py-files <py_files_uri>` and logs under <log_uri>
# (wenulake/emr.py builds exactly that from the settings the outputs below feed).

locals {
  code_prefix    = "emr"
  jobs_uri       = "s3://${var.code_bucket_name}/${local.code_prefix}/jobs"
  py_files_key   = "${local.code_prefix}/wenulake.zip"
  python_env_key = "${local.code_prefix}/wenulake-pyenv.tar.gz"
  log_prefix     = "${local.code_prefix}/logs"
  entry_points   = toset(["bronze", "silver"])
}

data "aws_iam_policy_document" "assume_emr" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["emr-serverless.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

resource "aws_iam_role" "job" {
  name               = "${var.name}-spark-job"
  assume_role_policy = data.aws_iam_policy_document.assume_emr.json
}

data "aws_iam_policy_document" "job" {
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
    sid       = "ReadJobCode"
    actions   = ["s3:GetObject"]
    resources = ["${var.bucket_arns["dags"]}/${local.code_prefix}/*"]
  }
  statement {
    sid       = "WriteJobLogs"
    actions   = ["s3:PutObject"]
    resources = ["${var.bucket_arns["dags"]}/${local.log_prefix}/*"]
  }
  statement {
    sid       = "ListTheBuckets"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.bucket_arns["landing"], var.bucket_arns["lake"], var.bucket_arns["stage"], var.bucket_arns["dags"]]
  }
  statement {
    sid       = "ReadTheKeyring"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.keyring_secret_arn]
  }
  statement {
    sid       = "UseTheDataKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "job" {
  name   = "wenulake-spark-jobs"
  role   = aws_iam_role.job.id
  policy = data.aws_iam_policy_document.job.json
}

resource "aws_emrserverless_application" "spark" {
  name          = "${var.name}-spark"
  release_label = var.release_label
  type          = "spark"
  architecture  = "ARM64"
  maximum_capacity {
    cpu    = "${var.max_vcpu} vCPU"
    memory = "${var.max_vcpu * 4} GB"
  }
  auto_start_configuration {
    enabled = true
  }
  auto_stop_configuration {
    enabled              = true
    idle_timeout_minutes = var.idle_minutes
  }
  network_configuration {
    subnet_ids         = var.subnet_ids
    security_group_ids = [var.security_group_id]
  }
}

# The entry points the job runs start (the same files `spark-submit jobs/<stage>.py` runs here) and the package
# archive `make package` builds; Terraform uploads them so the code URIs the settings name always exist.
resource "aws_s3_object" "entry_point" {
  for_each   = local.entry_points
  bucket     = var.code_bucket_name
  key        = "${local.code_prefix}/jobs/${each.key}.py"
  source     = "${var.jobs_dir}/${each.key}.py"
  etag       = filemd5("${var.jobs_dir}/${each.key}.py")
  kms_key_id = var.kms_key_arn
}

resource "aws_s3_object" "package" {
  bucket     = var.code_bucket_name
  key        = local.py_files_key
  source     = var.package_archive
  kms_key_id = var.kms_key_arn
}
