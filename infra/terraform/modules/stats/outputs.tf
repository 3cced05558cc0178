output "table_name" {
  description = "Name of the stats table."
  value       = aws_dynamodb_table.stats.name
}

output "table_arn" {
  description = "ARN of the stats table."
  value       = aws_dynamodb_table.stats.arn
}
