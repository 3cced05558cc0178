output "bucket_names" {
  description = "Bucket name per purpose: landing, lake, stage, dags, logs."
  value = {
    landing = module.landing.name
    lake    = module.lake.name
    stage   = module.stage.name
    dags    = module.dags.name
    logs    = aws_s3_bucket.logs.bucket
  }
}

output "bucket_arns" {
  description = "Bucket ARN per purpose: landing, lake, stage, dags, logs."
  value = {
    landing = module.landing.arn
    lake    = module.lake.arn
    stage   = module.stage.arn
    dags    = module.dags.arn
    logs    = aws_s3_bucket.logs.arn
  }
}
