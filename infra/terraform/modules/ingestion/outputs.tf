output "stream_arn" {
  description = "ARN of the Kinesis data stream of device messages."
  value       = aws_kinesis_stream.sensors.arn
}

output "firehose_name" {
  description = "Name of the Firehose delivery stream writing the sensors landing."
  value       = aws_kinesis_firehose_delivery_stream.sensors.name
}

output "iot_rule_name" {
  description = "Name of the IoT topic rule feeding the stream."
  value       = aws_iot_topic_rule.sensors.name
}

output "firehose_role_arn" {
  description = "ARN of the Firehose role that writes the landing."
  value       = aws_iam_role.firehose.arn
}
