# Notifications: the alarms topic (wenulake publishes every alarm transition once) and the work-order topic (the
# field-service events). Each subscription has an SQS dead-letter queue for messages SNS could not deliver.
# Alarms fan out to a queue the field-service consumer reads (with its own dead-letter queue); work-order
# events are delivered by Firehose into the landing under <prefix>/workorders/YYYY/MM/DD/HH/.

locals {
  topics = {
    alarms      = "${var.name}-alarms"
    work_orders = "${var.name}-work-orders"
  }
}

resource "aws_sns_topic" "this" {
  for_each          = local.topics
  name              = each.value
  kms_master_key_id = var.kms_key_arn
}

resource "aws_sqs_queue" "dead_letter" {
  for_each                  = local.topics
  name                      = "${each.value}-dlq"
  kms_master_key_id         = var.kms_key_arn
  message_retention_seconds = 1209600 # 14 days, SQS's maximum: time to inspect and redrive
}

resource "aws_sqs_queue" "alarms" {
  name                      = "${var.name}-alarms-consumer"
  kms_master_key_id         = var.kms_key_arn
  message_retention_seconds = 345600
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter["alarms"].arn
    maxReceiveCount     = 5
  })
}

data "aws_iam_policy_document" "sns_to_queue" {
  for_each = {
    alarms_consumer = { queue = aws_sqs_queue.alarms.arn, topic = aws_sns_topic.this["alarms"].arn }
    alarms_dlq      = { queue = aws_sqs_queue.dead_letter["alarms"].arn, topic = aws_sns_topic.this["alarms"].arn }
    work_orders_dlq = { queue = aws_sqs_queue.dead_letter["work_orders"].arn, topic = aws_sns_topic.this["work_orders"].arn }
  }
  statement {
    actions   = ["sqs:SendMessage"]
    resources = [each.value.queue]
    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [each.value.topic]
    }
  }
}

resource "aws_sqs_queue_policy" "alarms" {
  queue_url = aws_sqs_queue.alarms.id
  policy    = data.aws_iam_policy_document.sns_to_queue["alarms_consumer"].json
}

resource "aws_sqs_queue_policy" "dead_letter" {
  for_each  = aws_sqs_queue.dead_letter
  queue_url = each.value.id
  policy    = data.aws_iam_policy_document.sns_to_queue["${each.key}_dlq"].json
}

resource "aws_sns_topic_subscription" "alarms_to_queue" {
  topic_arn            = aws_sns_topic.this["alarms"].arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.alarms.arn
  raw_message_delivery = true
  redrive_policy       = jsonencode({ deadLetterTargetArn = aws_sqs_queue.dead_letter["alarms"].arn })
}

# -- work-order events -> Firehose -> landing ---------------------------------------------------------------
data "aws_iam_policy_document" "assume" {
  for_each = toset(["sns.amazonaws.com", "firehose.amazonaws.com"])
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = [each.key]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

resource "aws_cloudwatch_log_group" "firehose" {
  name              = "/aws/kinesisfirehose/${var.name}-work-orders"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_cloudwatch_log_stream" "firehose" {
  name           = "S3Delivery"
  log_group_name = aws_cloudwatch_log_group.firehose.name
}

resource "aws_iam_role" "firehose" {
  name               = "${var.name}-firehose-work-orders"
  assume_role_policy = data.aws_iam_policy_document.assume["firehose.amazonaws.com"].json
}

data "aws_iam_policy_document" "firehose" {
  statement {
    sid       = "WriteTheWorkOrderPrefixes"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${var.landing_bucket_arn}/${var.landing_prefix}/workorders/*", "${var.landing_bucket_arn}/${var.landing_prefix}/errors/workorders/*"]
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
  name   = "deliver-work-orders-to-landing"
  role   = aws_iam_role.firehose.id
  policy = data.aws_iam_policy_document.firehose.json
}

resource "aws_kinesis_firehose_delivery_stream" "work_orders" {
  name        = "${var.name}-work-orders"
  destination = "extended_s3"
  server_side_encryption {
    enabled  = true
    key_type = "CUSTOMER_MANAGED_CMK"
    key_arn  = var.kms_key_arn
  }
  extended_s3_configuration {
    role_arn            = aws_iam_role.firehose.arn
    bucket_arn          = var.landing_bucket_arn
    prefix              = "${var.landing_prefix}/workorders/!{timestamp:yyyy/MM/dd/HH}/"
    error_output_prefix = "${var.landing_prefix}/errors/workorders/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/"
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

resource "aws_iam_role" "sns_to_firehose" {
  name               = "${var.name}-sns-work-orders-to-firehose"
  assume_role_policy = data.aws_iam_policy_document.assume["sns.amazonaws.com"].json
}

data "aws_iam_policy_document" "sns_to_firehose" {
  statement {
    actions   = ["firehose:DescribeDeliveryStream", "firehose:ListDeliveryStreams", "firehose:ListTagsForDeliveryStream", "firehose:PutRecord", "firehose:PutRecordBatch"]
    resources = [aws_kinesis_firehose_delivery_stream.work_orders.arn]
  }
}

resource "aws_iam_role_policy" "sns_to_firehose" {
  name   = "put-work-orders-into-firehose"
  role   = aws_iam_role.sns_to_firehose.id
  policy = data.aws_iam_policy_document.sns_to_firehose.json
}

resource "aws_sns_topic_subscription" "work_orders_to_firehose" {
  topic_arn             = aws_sns_topic.this["work_orders"].arn
  protocol              = "firehose"
  endpoint              = aws_kinesis_firehose_delivery_stream.work_orders.arn
  subscription_role_arn = aws_iam_role.sns_to_firehose.arn
  raw_message_delivery  = true
  redrive_policy        = jsonencode({ deadLetterTargetArn = aws_sqs_queue.dead_letter["work_orders"].arn })
}
