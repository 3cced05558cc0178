output "alarm_topic_arn" {
  description = "SNS topic wenulake publishes alarm transitions to (WENULAKE_ALARM_TOPIC_ARN)."
  value       = aws_sns_topic.this["alarms"].arn
}

output "work_order_topic_arn" {
  description = "SNS topic of field-service work-order events."
  value       = aws_sns_topic.this["work_orders"].arn
}

output "alarm_queue_url" {
  description = "SQS queue receiving every alarm notification (for the field-service consumer)."
  value       = aws_sqs_queue.alarms.id
}

output "dead_letter_queue_arns" {
  description = "Dead-letter queue per topic (alarms, work_orders)."
  value       = { for k, q in aws_sqs_queue.dead_letter : k => q.arn }
}

output "firehose_role_arn" {
  description = "ARN of the Firehose role that writes the landing."
  value       = aws_iam_role.firehose.arn
}
