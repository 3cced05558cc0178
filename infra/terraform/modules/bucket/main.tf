# One data bucket the way every wenulake bucket is made: SSE-KMS with the deployment key, versioning, public
# access blocked, owner-enforced objects, TLS only, access logs to the log bucket, and a lifecycle that
# cleans old versions and unfinished uploads (and expires current objects when expiry_days is set). Optionally
# only some roles may put objects (the landing: its Firehose roles), or a CloudTrail trail delivers here.

resource "aws_s3_bucket" "this" {
  # checkov:skip=CKV_AWS_144:single-region deployment by decision; the landing is versioned and the lake is rebuildable from it (add replication per environment if the region itself must be survived)
  # checkov:skip=CKV2_AWS_62:no event consumers: Airflow lists each arrival hour's prefix on its schedule instead of reacting to object events
  bucket = var.bucket
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_logging" "this" {
  bucket        = aws_s3_bucket.this.id
  target_bucket = var.log_bucket
  target_prefix = "${var.bucket}/"
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    id     = "clean-old-versions-and-uploads"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
  dynamic "rule" {
    for_each = var.expiry_days == null ? [] : [var.expiry_days]
    content {
      id     = "expire-objects"
      status = "Enabled"
      filter {}
      expiration {
        days = rule.value
      }
      abort_incomplete_multipart_upload {
        days_after_initiation = 1
      }
    }
  }
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]
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
  dynamic "statement" {
    for_each = length(var.writer_role_arns) > 0 ? [var.writer_role_arns] : []
    content {
      sid       = "OnlyTheWriterRolesPutObjects"
      effect    = "Deny"
      actions   = ["s3:PutObject"]
      resources = ["${aws_s3_bucket.this.arn}/*"]
      principals {
        type        = "*"
        identifiers = ["*"]
      }
      condition {
        test     = "ArnNotEquals"
        variable = "aws:PrincipalArn"
        values   = statement.value
      }
    }
  }
  dynamic "statement" {
    for_each = var.cloudtrail_source_arn == null ? [] : [var.cloudtrail_source_arn]
    content {
      sid       = "CloudTrailChecksTheBucketAcl"
      actions   = ["s3:GetBucketAcl"]
      resources = [aws_s3_bucket.this.arn]
      principals {
        type        = "Service"
        identifiers = ["cloudtrail.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:SourceArn"
        values   = [statement.value]
      }
    }
  }
  dynamic "statement" {
    for_each = var.cloudtrail_source_arn == null ? [] : [var.cloudtrail_source_arn]
    content {
      sid       = "CloudTrailDeliversLogFiles"
      actions   = ["s3:PutObject"]
      resources = ["${aws_s3_bucket.this.arn}/AWSLogs/*"]
      principals {
        type        = "Service"
        identifiers = ["cloudtrail.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:SourceArn"
        values   = [statement.value]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.this.json
}
