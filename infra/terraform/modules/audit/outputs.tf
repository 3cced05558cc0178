output "trail_arn" {
  description = "ARN of the CloudTrail trail."
  value       = aws_cloudtrail.this.arn
}

output "trail_bucket" {
  description = "Name of the bucket holding the trail's log files."
  value       = module.bucket.name
}
