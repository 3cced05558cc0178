# The lakehouse's buckets: Firehose landing, Delta lake, warehouse stage files (expiring), Airflow DAGs, each
# made by the bucket module, and the bucket receiving their access logs (and the catalog service's load
# balancer's, under alb/).

# only the Firehose roles may put objects into the landing (writer_role_arns)
module "landing" {
  source                  = "../bucket"
  bucket                  = "${var.name}-landing"
  kms_key_arn             = var.kms_key_arn
  log_bucket              = aws_s3_bucket.logs.id
  noncurrent_version_days = var.noncurrent_version_days
  writer_role_arns        = var.landing_writer_role_arns
}

module "lake" {
  source                  = "../bucket"
  bucket                  = "${var.name}-lake"
  kms_key_arn             = var.kms_key_arn
  log_bucket              = aws_s3_bucket.logs.id
  noncurrent_version_days = var.noncurrent_version_days
}

module "stage" {
  source                  = "../bucket"
  bucket                  = "${var.name}-stage"
  kms_key_arn             = var.kms_key_arn
  log_bucket              = aws_s3_bucket.logs.id
  noncurrent_version_days = var.stage_expiry_days
  expiry_days             = var.stage_expiry_days
}

module "dags" {
  source                  = "../bucket"
  bucket                  = "${var.name}-dags"
  kms_key_arn             = var.kms_key_arn
  log_bucket              = aws_s3_bucket.logs.id
  noncurrent_version_days = var.noncurrent_version_days
}

# -- access logs --------------------------------------------------------------------------------------------
resource "aws_s3_bucket" "logs" {
  # checkov:skip=CKV_AWS_145:S3 server access logs can only be delivered to a bucket encrypted with SSE-S3, not SSE-KMS
  # checkov:skip=CKV_AWS_18:this is the access-log bucket itself; logging it into itself would loop
  # checkov:skip=CKV_AWS_144:access logs stay in the deployment's region; no cross-region copy is required for them
  # checkov:skip=CKV2_AWS_62:nothing consumes events of the access-log bucket
  bucket = "${var.name}-access-logs"
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.access_log_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "logs" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
  statement {
    sid       = "S3ServerAccessLogsDelivery"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
  statement {
    sid       = "LoadBalancerAccessLogsDelivery"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/alb/*"]
    principals {
      type        = "Service"
      identifiers = ["logdelivery.elasticloadbalancing.amazonaws.com"]
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  bucket = aws_s3_bucket.logs.id
  policy = data.aws_iam_policy_document.logs.json
}
