output "key_arn" {
  description = "ARN of the data key."
  value       = aws_kms_key.data.arn
}

output "key_id" {
  description = "Key id of the data key."
  value       = aws_kms_key.data.key_id
}
