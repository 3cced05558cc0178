# The warehouse: Redshift Serverless in the deployment's private subnets, reachable on 5439 only from the
# security groups of the components that load and query it. The admin password is managed by Redshift in
# Secrets Manager (never in state); Redshift reads warehouse stage files through a role of its own.

data "aws_iam_policy_document" "assume_redshift" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["redshift.amazonaws.com", "redshift-serverless.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

resource "aws_iam_role" "copy" {
  name               = "${var.name}-redshift-copy"
  assume_role_policy = data.aws_iam_policy_document.assume_redshift.json
}

data "aws_iam_policy_document" "copy" {
  statement {
    sid       = "ReadStageFiles"
    actions   = ["s3:GetObject"]
    resources = ["${var.stage_bucket_arn}/*"]
  }
  statement {
    sid       = "ListStageFiles"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.stage_bucket_arn]
  }
  statement {
    sid       = "DecryptStageFiles"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "copy" {
  name   = "copy-from-stage-bucket"
  role   = aws_iam_role.copy.id
  policy = data.aws_iam_policy_document.copy.json
}

resource "aws_redshiftserverless_namespace" "this" {
  namespace_name                   = var.name
  db_name                          = var.database
  admin_username                   = var.admin_username
  manage_admin_password            = true
  kms_key_id                       = var.kms_key_arn
  admin_password_secret_kms_key_id = var.kms_key_arn
  iam_roles                        = [aws_iam_role.copy.arn]
  default_iam_role_arn             = aws_iam_role.copy.arn
  log_exports                      = ["userlog", "connectionlog", "useractivitylog"]
}

resource "aws_redshiftserverless_workgroup" "this" {
  namespace_name       = aws_redshiftserverless_namespace.this.namespace_name
  workgroup_name       = var.name
  base_capacity        = var.base_capacity
  max_capacity         = var.max_capacity
  publicly_accessible  = false
  enhanced_vpc_routing = true
  subnet_ids           = var.subnet_ids
  security_group_ids   = [var.security_group_id]
  config_parameter {
    parameter_key   = "require_ssl"
    parameter_value = "true"
  }
  config_parameter {
    parameter_key   = "enable_user_activity_logging"
    parameter_value = "true"
  }
}
