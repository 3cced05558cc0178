# Device messages: IoT Core rule -> Kinesis data stream (the 24 h buffer) -> Firehose -> gzip objects under
# <landing bucket>/<prefix>/sensors/YYYY/MM/DD/HH/ (the UTC arrival hour: contract v1's landing object).
# Firehose writes failed deliveries under <prefix>/errors/, outside sensors/, so the pipeline never reads them.

data "aws_iam_policy_document" "assume_iot" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["iot.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

data "aws_iam_policy_document" "assume_firehose" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["firehose.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

resource "aws_kinesis_stream" "sensors" {
  name             = "${var.name}-sensors"
  retention_period = var.retention_hours
  encryption_type  = "KMS"
  kms_key_id       = var.kms_key_arn
  stream_mode_details {
    stream_mode = "ON_DEMAND"
  }
}

resource "aws_cloudwatch_log_group" "firehose" {
  name              = "/aws/kinesisfirehose/${var.name}-sensors"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_cloudwatch_log_stream" "firehose" {
  name           = "S3Delivery"
  log_group_name = aws_cloudwatch_log_group.firehose.name
}

# -- IoT Core -> Kinesis ------------------------------------------------------------------------------------
resource "aws_iam_role" "iot" {
  name               = "${var.name}-iot-to-kinesis"
  assume_role_policy = data.aws_iam_policy_document.assume_iot.json
}

data "aws_iam_policy_document" "iot" {
  statement {
    actions   = ["kinesis:PutRecord", "kinesis:PutRecords"]
    resources = [aws_kinesis_stream.sensors.arn]
  }
  statement {
    actions   = ["kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "iot" {
  name   = "put-into-sensor-stream"
  role   = aws_iam_role.iot.id
  policy = data.aws_iam_policy_document.iot.json
}

resource "aws_iot_topic_rule" "sensors" {
  name        = replace("${var.name}_sensors", "-", "_")
  description = "Device messages into the sensor stream, partitioned by device"
  enabled     = true
  sql         = "SELECT * FROM '${var.iot_topic_filter}'"
  sql_version = "2016-03-23"
  kinesis {
    role_arn      = aws_iam_role.iot.arn
    stream_name   = aws_kinesis_stream.sensors.name
    partition_key = "$${topic(3)}"
  }
}

# -- Kinesis -> Firehose -> S3 landing ----------------------------------------------------------------------
resource "aws_iam_role" "firehose" {
  name               = var.firehose_role_name
  assume_role_policy = data.aws_iam_policy_document.assume_firehose.json
}

data "aws_iam_policy_document" "firehose" {
  statement {
    sid       = "ReadTheSensorStream"
    actions   = ["kinesis:DescribeStream", "kinesis:GetShardIterator", "kinesis:GetRecords", "kinesis:ListShards"]
    resources = [aws_kinesis_stream.sensors.arn]
  }
  statement {
    sid       = "WriteTheLandingPrefixes"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${var.landing_bucket_arn}/${var.landing_prefix}/sensors/*", "${var.landing_bucket_arn}/${var.landing_prefix}/errors/sensors/*"]
  }
  statement {
    sid       = "LocateTheLandingBucket"
    actions   = ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = [var.landing_bucket_arn]
  }
  statement {
    sid       = "UseTheDataKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
  statement {
    sid       = "LogDeliveryErrors"
    actions   = ["logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.firehose.arn}:*"]
  }
}

resource "aws_iam_role_policy" "firehose" {
  name   = "deliver-sensor-stream-to-landing"
  role   = aws_iam_role.firehose.id
  policy = data.aws_iam_policy_document.firehose.json
}

resource "aws_kinesis_firehose_delivery_stream" "sensors" {
  # checkov:skip=CKV_AWS_240:a Firehose reading a Kinesis stream cannot enable its own server-side encryption; the source stream is KMS-encrypted and the S3 objects are SSE-KMS
  # checkov:skip=CKV_AWS_241:same as CKV_AWS_240: encryption is the source stream's (customer key) and the bucket's (customer key)
  name        = "${var.name}-sensors"
  destination = "extended_s3"
  kinesis_source_configuration {
    kinesis_stream_arn = aws_kinesis_stream.sensors.arn
    role_arn           = aws_iam_role.firehose.arn
  }
  extended_s3_configuration {
    role_arn            = aws_iam_role.firehose.arn
    bucket_arn          = var.landing_bucket_arn
    prefix              = "${var.landing_prefix}/sensors/!{timestamp:yyyy/MM/dd/HH}/"
    error_output_prefix = "${var.landing_prefix}/errors/sensors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/"
    buffering_interval  = var.buffering_seconds
    buffering_size      = var.buffering_mb
    compression_format  = "GZIP"
    kms_key_arn         = var.kms_key_arn
    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = aws_cloudwatch_log_group.firehose.name
      log_stream_name = aws_cloudwatch_log_stream.firehose.name
    }
  }
  depends_on = [aws_iam_role_policy.firehose]
}
