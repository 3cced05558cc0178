output "landing_uri" {
  description = "WENULAKE_LANDING for the deployed pipeline."
  value       = "s3://${aws_s3_bucket.this["landing"].bucket}/firehose"
}

output "lake_uri" {
  description = "WENULAKE_LAKE for the deployed pipeline."
  value       = "s3://${aws_s3_bucket.this["lake"].bucket}/lake"
}

output "kms_key_arn" {
  description = "KMS key encrypting the data buckets."
  value       = aws_kms_key.data.arn
}
