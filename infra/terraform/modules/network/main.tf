# Security groups of the components in the deployment's VPC (the VPC and its private subnets, with S3 gateway
# and interface endpoints, are the account's: passed in). Airflow and Spark reach AWS endpoints on 443 inside
# the VPC; only they reach the warehouse on 5439.

locals {
  groups = {
    airflow   = "MWAA environment: its components among themselves, HTTPS to endpoints, SQL to the warehouse"
    spark     = "EMR Serverless workers: HTTPS to endpoints, SQL to the warehouse"
    warehouse = "Redshift Serverless workgroup: SQL from Airflow and Spark only"
  }
}

resource "aws_security_group" "this" {
  # checkov:skip=CKV2_AWS_5:attached in the warehouse, compute and orchestration modules (their security_group_id variable); checkov's connection graph does not follow module variables
  for_each    = local.groups
  name        = "${var.name}-${each.key}"
  description = each.value
  vpc_id      = var.vpc_id
}

# MWAA's components (web server, schedulers, workers) reach each other's HTTPS and its metadata database.
resource "aws_vpc_security_group_ingress_rule" "airflow_self" {
  for_each                     = toset(["443", "5432"])
  security_group_id            = aws_security_group.this["airflow"].id
  description                  = "MWAA components among themselves (${each.key})"
  referenced_security_group_id = aws_security_group.this["airflow"].id
  ip_protocol                  = "tcp"
  from_port                    = tonumber(each.key)
  to_port                      = tonumber(each.key)
}

resource "aws_vpc_security_group_egress_rule" "airflow_self" {
  for_each                     = toset(["443", "5432"])
  security_group_id            = aws_security_group.this["airflow"].id
  description                  = "MWAA components among themselves (${each.key})"
  referenced_security_group_id = aws_security_group.this["airflow"].id
  ip_protocol                  = "tcp"
  from_port                    = tonumber(each.key)
  to_port                      = tonumber(each.key)
}

resource "aws_vpc_security_group_egress_rule" "https" {
  for_each          = toset(["airflow", "spark"])
  security_group_id = aws_security_group.this[each.key].id
  description       = "HTTPS to AWS service endpoints in the VPC"
  cidr_ipv4         = var.vpc_cidr
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "to_warehouse" {
  for_each                     = toset(["airflow", "spark"])
  security_group_id            = aws_security_group.this[each.key].id
  description                  = "SQL to the warehouse"
  referenced_security_group_id = aws_security_group.this["warehouse"].id
  ip_protocol                  = "tcp"
  from_port                    = 5439
  to_port                      = 5439
}

resource "aws_vpc_security_group_ingress_rule" "warehouse" {
  for_each                     = toset(["airflow", "spark"])
  security_group_id            = aws_security_group.this["warehouse"].id
  description                  = "SQL from ${each.key}"
  referenced_security_group_id = aws_security_group.this[each.key].id
  ip_protocol                  = "tcp"
  from_port                    = 5439
  to_port                      = 5439
}
