# The catalog service (`wenulake serve`, ADR 0015): ECS Fargate tasks in private subnets behind an HTTPS
# application load balancer (WAF in front, access logs on), over the catalog database on RDS PostgreSQL in the
# private subnets. The database password is managed by RDS in Secrets Manager and the session-signing key is a
# secret of its own: both reach the task as secrets, never as plain environment or Terraform state.

# -- network ------------------------------------------------------------------------------------------------
resource "aws_security_group" "alb" {
  name        = "${var.name}-catalog-alb"
  description = "Catalog service load balancer: HTTPS from the allowed networks, HTTP to the tasks"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "service" {
  name        = "${var.name}-catalog-service"
  description = "Catalog service tasks: HTTP from the load balancer, PostgreSQL to the catalog, HTTPS to endpoints"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "db" {
  name        = "${var.name}-catalog-db"
  description = "Catalog database: PostgreSQL from the catalog service tasks"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each          = toset(var.allowed_cidrs)
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from ${each.key}"
  cidr_ipv4         = each.key
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "alb_to_service" {
  security_group_id            = aws_security_group.alb.id
  description                  = "HTTP to the catalog service tasks"
  referenced_security_group_id = aws_security_group.service.id
  ip_protocol                  = "tcp"
  from_port                    = 8000
  to_port                      = 8000
}

resource "aws_vpc_security_group_ingress_rule" "service_from_alb" {
  security_group_id            = aws_security_group.service.id
  description                  = "HTTP from the load balancer"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = 8000
  to_port                      = 8000
}

resource "aws_vpc_security_group_egress_rule" "service_https" {
  security_group_id = aws_security_group.service.id
  description       = "HTTPS to AWS service endpoints in the VPC (ECR, S3, Secrets Manager, logs)"
  cidr_ipv4         = var.vpc_cidr
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "service_to_db" {
  security_group_id            = aws_security_group.service.id
  description                  = "PostgreSQL to the catalog database"
  referenced_security_group_id = aws_security_group.db.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_ingress_rule" "db_from_service" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from the catalog service tasks"
  referenced_security_group_id = aws_security_group.service.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

# the pipeline (Airflow) reads the same catalog
resource "aws_vpc_security_group_ingress_rule" "db_from_clients" {
  count                        = length(var.client_security_group_ids)
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from a catalog client (Airflow)"
  referenced_security_group_id = var.client_security_group_ids[count.index]
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_egress_rule" "clients_to_db" {
  count                        = length(var.client_security_group_ids)
  security_group_id            = var.client_security_group_ids[count.index]
  description                  = "PostgreSQL to the catalog database"
  referenced_security_group_id = aws_security_group.db.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

# -- the catalog database -----------------------------------------------------------------------------------
resource "aws_db_subnet_group" "catalog" {
  name        = "${var.name}-catalog"
  description = "Private subnets of the catalog database"
  subnet_ids  = var.private_subnet_ids
}

resource "aws_db_parameter_group" "catalog" {
  name        = "${var.name}-catalog"
  family      = "postgres15"
  description = "Catalog database: TLS only, statement and slow query logging"
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_statement"
    value = "ddl"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "500"
  }
}

data "aws_iam_policy_document" "assume_monitoring" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

resource "aws_iam_role" "monitoring" {
  name               = "${var.name}-catalog-db-monitoring"
  assume_role_policy = data.aws_iam_policy_document.assume_monitoring.json
}

data "aws_iam_policy_document" "monitoring" {
  # what AmazonRDSEnhancedMonitoringRole allows, scoped to the RDS OS metrics log group
  statement {
    sid       = "EnhancedMonitoringLogs"
    actions   = ["logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams", "logs:GetLogEvents"]
    resources = ["arn:aws:logs:${var.region}:${var.account_id}:log-group:RDSOSMetrics", "arn:aws:logs:${var.region}:${var.account_id}:log-group:RDSOSMetrics:log-stream:*"]
  }
}

resource "aws_iam_role_policy" "monitoring" {
  name   = "rds-enhanced-monitoring"
  role   = aws_iam_role.monitoring.id
  policy = data.aws_iam_policy_document.monitoring.json
}

resource "aws_db_instance" "catalog" {
  identifier                            = "${var.name}-catalog"
  engine                                = "postgres"
  engine_version                        = "15"
  instance_class                        = var.db_instance_class
  allocated_storage                     = 20
  max_allocated_storage                 = 200
  db_name                               = "catalog"
  username                              = "wenulake"
  manage_master_user_password           = true
  master_user_secret_kms_key_id         = var.kms_key_arn
  db_subnet_group_name                  = aws_db_subnet_group.catalog.name
  vpc_security_group_ids                = [aws_security_group.db.id]
  parameter_group_name                  = aws_db_parameter_group.catalog.name
  publicly_accessible                   = false
  multi_az                              = true
  storage_encrypted                     = true
  kms_key_id                            = var.kms_key_arn
  iam_database_authentication_enabled   = true
  backup_retention_period               = 14
  copy_tags_to_snapshot                 = true
  deletion_protection                   = true
  auto_minor_version_upgrade            = true
  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]
  monitoring_interval                   = 60
  monitoring_role_arn                   = aws_iam_role.monitoring.arn
  performance_insights_enabled          = true
  performance_insights_kms_key_id       = var.kms_key_arn
  performance_insights_retention_period = 7
  skip_final_snapshot                   = false
  final_snapshot_identifier             = "${var.name}-catalog-final"
}

# -- the session-signing key ----------------------------------------------------------------------------------
resource "aws_secretsmanager_secret" "session" {
  # checkov:skip=CKV2_AWS_57:the session-signing key is replaced by putting a new value and redeploying (which signs everyone out); a rotation Lambda would do the same with more moving parts
  name                    = "${var.name}/catalog-session-key"
  description             = "WENULAKE_SERVICE_SECRET: signs the catalog backoffice's session cookies (put a random value)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
}

# -- the service ----------------------------------------------------------------------------------------------
resource "aws_cloudwatch_log_group" "service" {
  name              = "/ecs/${var.name}-catalog"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_ecs_cluster" "this" {
  name = "${var.name}-catalog"
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

data "aws_iam_policy_document" "assume_ecs_tasks" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-catalog-execution"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_tasks.json
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "PullImage"
    actions   = ["ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = ["arn:aws:ecr:${var.region}:${var.account_id}:repository/*"]
  }
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.service.arn}:*"]
  }
  statement {
    sid       = "ReadSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.session.arn, aws_db_instance.catalog.master_user_secret[0].secret_arn]
  }
  statement {
    sid       = "DecryptSecrets"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "pull-log-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_iam_role" "task" {
  name               = "${var.name}-catalog-task"
  assume_role_policy = data.aws_iam_policy_document.assume_ecs_tasks.json
}

data "aws_iam_policy_document" "task" {
  statement {
    sid       = "ReadLake"
    actions   = ["s3:GetObject"]
    resources = ["${var.lake_bucket_arn}/*"]
  }
  statement {
    sid       = "ListLake"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.lake_bucket_arn]
  }
  statement {
    sid       = "DecryptLake"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
  # Device provisioning (create, rotate, retire keys) rewrites the keyring secret the way
  # wenulake/keystore.py does: read the current version, put the new document as AWSPENDING with a client
  # token, then move AWSCURRENT to it only if nobody wrote in between. Only this one secret.
  statement {
    sid = "ProvisionDeviceKeys"
    actions = [
      "secretsmanager:GetSecretValue",
      "secretsmanager:PutSecretValue",
      "secretsmanager:UpdateSecretVersionStage",
      "secretsmanager:DescribeSecret",
    ]
    resources = [var.keyring_secret_arn]
  }
  statement {
    sid       = "EncryptTheKeyring"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "read-lake-and-provision-keys"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

locals {
  environment = merge(var.wenulake_settings, {
    WENULAKE_CATALOG_URL            = "postgresql://${aws_db_instance.catalog.username}@${aws_db_instance.catalog.address}:${aws_db_instance.catalog.port}/${aws_db_instance.catalog.db_name}?sslmode=require"
    WENULAKE_HOME                   = "/tmp/wenulake"
    WENULAKE_SERVICE_SECURE_COOKIES = "true"
    WENULAKE_SERVICE_RUN_JOBS       = "false"
  })
}

resource "aws_ecs_task_definition" "service" {
  family                   = "${var.name}-catalog"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  volume {
    name = "tmp"
  }
  container_definitions = jsonencode([
    {
      name                   = "catalog-api"
      image                  = var.image
      essential              = true
      command                = ["wenulake", "serve", "--host", "0.0.0.0", "--port", "8000"]
      readonlyRootFilesystem = true
      privileged             = false
      user                   = "1000"
      portMappings           = [{ containerPort = 8000, protocol = "tcp" }]
      mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
      environment            = [for k, v in local.environment : { name = k, value = v }]
      secrets = [
        { name = "WENULAKE_SERVICE_SECRET", valueFrom = aws_secretsmanager_secret.session.arn },
        # libpq reads the password from PGPASSWORD: the URL carries none
        { name = "PGPASSWORD", valueFrom = "${aws_db_instance.catalog.master_user_secret[0].secret_arn}:password::" },
      ]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.service.name
          awslogs-region        = var.region
          awslogs-stream-prefix = "catalog"
        }
      }
    }
  ])
}

resource "aws_ecs_service" "service" {
  name            = "${var.name}-catalog"
  cluster         = aws_ecs_cluster.this.id
  task_definition = aws_ecs_task_definition.service.arn
  desired_count   = var.desired_count
  launch_type     = "FARGATE"
  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.service.id]
    assign_public_ip = false
  }
  load_balancer {
    target_group_arn = aws_lb_target_group.service.arn
    container_name   = "catalog-api"
    container_port   = 8000
  }
  depends_on = [aws_lb_listener.https]
}

# -- the load balancer --------------------------------------------------------------------------------------------
resource "aws_lb" "this" {
  name                       = "${var.name}-catalog"
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.public_subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = true
  access_logs {
    bucket  = var.access_logs_bucket
    prefix  = "alb/catalog"
    enabled = true
  }
}

resource "aws_lb_target_group" "service" {
  # checkov:skip=CKV_AWS_378:TLS ends at the load balancer; the hop to the tasks stays inside the VPC, between two security groups that admit only each other
  name        = "${var.name}-catalog"
  port        = 8000
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = var.vpc_id
  health_check {
    path    = "/openapi.json"
    matcher = "200"
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.service.arn
  }
}

# -- WAF in front of the load balancer ----------------------------------------------------------------------------
resource "aws_wafv2_web_acl" "this" {
  name        = "${var.name}-catalog"
  description = "Catalog service: AWS managed common, known-bad-input (Log4j) and anonymous-IP rules"
  scope       = "REGIONAL"
  default_action {
    allow {}
  }
  rule {
    name     = "common"
    priority = 1
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesCommonRuleSet"
        vendor_name = "AWS"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "common"
      sampled_requests_enabled   = true
    }
  }
  rule {
    name     = "known-bad-inputs"
    priority = 2
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
        vendor_name = "AWS"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "known-bad-inputs"
      sampled_requests_enabled   = true
    }
  }
  rule {
    name     = "anonymous-ip"
    priority = 3
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        name        = "AWSManagedRulesAnonymousIpList"
        vendor_name = "AWS"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "anonymous-ip"
      sampled_requests_enabled   = true
    }
  }
  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${var.name}-catalog"
    sampled_requests_enabled   = true
  }
}

resource "aws_wafv2_web_acl_association" "this" {
  resource_arn = aws_lb.this.arn
  web_acl_arn  = aws_wafv2_web_acl.this.arn
}

resource "aws_cloudwatch_log_group" "waf" {
  name              = "aws-waf-logs-${var.name}-catalog"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_wafv2_web_acl_logging_configuration" "this" {
  resource_arn            = aws_wafv2_web_acl.this.arn
  log_destination_configs = [aws_cloudwatch_log_group.waf.arn]
}
