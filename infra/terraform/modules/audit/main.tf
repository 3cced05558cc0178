# The audit trail: one multi-region CloudTrail trail with log file validation, encrypted with the deployment key,
# delivered to a bucket of its own (made by the bucket module: only this trail may write there) and to
# CloudWatch Logs. It records every management event, read and write: among them each Secrets Manager
# GetSecretValue of the device keyring (who read the keys, from where); and the S3 data events of the watched
# buckets (the landing: every PutObject, so a write that is not the Firehose's shows up).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  trail_name = "${var.name}-audit"
  # known before the trail exists, so the bucket policy can name it without a dependency cycle
  trail_arn = "arn:${data.aws_partition.current.partition}:cloudtrail:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:trail/${local.trail_name}"
}

module "bucket" {
  source                  = "../bucket"
  bucket                  = "${var.name}-audit-trail"
  kms_key_arn             = var.kms_key_arn
  log_bucket              = var.log_bucket
  noncurrent_version_days = var.log_retention_days
  cloudtrail_source_arn   = local.trail_arn
}

resource "aws_cloudwatch_log_group" "trail" {
  name              = "/aws/cloudtrail/${local.trail_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_iam_policy_document" "assume_cloudtrail" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["cloudtrail.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [local.trail_arn]
    }
  }
}

resource "aws_iam_role" "trail" {
  name               = "${local.trail_name}-to-logs"
  assume_role_policy = data.aws_iam_policy_document.assume_cloudtrail.json
}

data "aws_iam_policy_document" "trail" {
  statement {
    sid       = "WriteTheTrailLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.trail.arn}:*"]
  }
}

resource "aws_iam_role_policy" "trail" {
  name   = "deliver-trail-to-cloudwatch-logs"
  role   = aws_iam_role.trail.id
  policy = data.aws_iam_policy_document.trail.json
}

resource "aws_cloudtrail" "this" {
  # checkov:skip=CKV_AWS_252:no SNS notification per delivered log file: the trail is read from CloudWatch Logs and the bucket, nobody consumes per-file notices
  name                          = local.trail_name
  s3_bucket_name                = module.bucket.name
  is_multi_region_trail         = true
  include_global_service_events = true
  enable_log_file_validation    = true
  kms_key_id                    = var.kms_key_arn
  cloud_watch_logs_group_arn    = "${aws_cloudwatch_log_group.trail.arn}:*"
  cloud_watch_logs_role_arn     = aws_iam_role.trail.arn

  event_selector {
    read_write_type           = "All"
    include_management_events = true # Secrets Manager GetSecretValue (the keyring) is a management event

    data_resource {
      type   = "AWS::S3::Object"
      values = [for arn in var.watched_bucket_arns : "${arn}/"]
    }
  }

  depends_on = [module.bucket]
}
