# Spark on EMR Serverless: an application that starts on demand and stops when idle, in the private subnets,
# and the job runtime role its jobs (jobs/*.py, the same entry points spark-submit runs) assume.

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
    resources = ["${var.bucket_arns["dags"]}/*"]
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
