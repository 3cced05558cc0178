# Storage of the lakehouse: the Firehose landing and the Delta lake, encrypted with a customer key.
# (Started small: ingestion, warehouse, compute and orchestration arrive with the deployment issue.)

locals {
  name = "wenulake-${var.environment}"
  buckets = {
    landing = "${local.name}-landing"
    lake    = "${local.name}-lake"
  }
}

resource "aws_kms_key" "data" {
  description             = "Encrypts wenulake's landing and lake buckets"
  deletion_window_in_days = 30
  enable_key_rotation     = true
}

resource "aws_s3_bucket" "this" {
  for_each = local.buckets
  bucket   = each.value
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = aws_s3_bucket.this
  bucket   = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.data.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each                = aws_s3_bucket.this
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "lake" {
  bucket = aws_s3_bucket.this["lake"].id
  rule {
    id     = "expire-stage-files"
    status = "Enabled"
    filter {
      prefix = "stage/"
    }
    expiration {
      days = var.stage_expiry_days
    }
    noncurrent_version_expiration {
      noncurrent_days = var.stage_expiry_days
    }
  }
}
