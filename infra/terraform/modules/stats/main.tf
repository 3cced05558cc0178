# The stats serving store: per sensor and period, with a TTL attribute (DynamoDB deletes expired items late;
# wenulake's reads filter them, see the README).

resource "aws_dynamodb_table" "stats" {
  name         = var.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "sensor_id"
  range_key    = "period"
  attribute {
    name = "sensor_id"
    type = "S"
  }
  attribute {
    name = "period"
    type = "S"
  }
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }
  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }
  deletion_protection_enabled = true
}
