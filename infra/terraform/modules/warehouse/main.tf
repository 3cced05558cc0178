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

# -- database users: the loader and the analysts are not the admin ---------------------------------------------
# Both log in with IAM temporary credentials (redshift-serverless:GetCredentials): a role's database user is
# "IAMR:<role name>", and no password of theirs exists anywhere. The admin (its password managed by Redshift in
# Secrets Manager, used here through the Data API only) creates the two group roles and the users and grants
# the roles once; the loader owns the tables it creates and grants SELECT on them to wenulake_reader on every
# DDL pass (sql/warehouse/postgres/91_reader_grants.sql). The statements run once, at apply, through the Data API.
locals {
  loader_user  = "IAMR:${var.loader_role_name}"
  reader_users = [for role in var.reader_role_names : "IAMR:${role}"]
  memberships = merge(
    { (local.loader_user) = "wenulake_loader" },
    { for user in local.reader_users : user => "wenulake_reader" },
  )
}

resource "aws_redshiftdata_statement" "group_roles" {
  for_each       = toset(["wenulake_loader", "wenulake_reader"])
  workgroup_name = aws_redshiftserverless_workgroup.this.workgroup_name
  database       = var.database
  secret_arn     = aws_redshiftserverless_namespace.this.admin_password_secret_arn
  sql            = "create role ${each.key}"
}

resource "aws_redshiftdata_statement" "loader_may_create" {
  workgroup_name = aws_redshiftserverless_workgroup.this.workgroup_name
  database       = var.database
  secret_arn     = aws_redshiftserverless_namespace.this.admin_password_secret_arn
  sql            = "grant create on database ${var.database} to role wenulake_loader"
  depends_on     = [aws_redshiftdata_statement.group_roles]
}

resource "aws_redshiftdata_statement" "users" {
  for_each       = local.memberships
  workgroup_name = aws_redshiftserverless_workgroup.this.workgroup_name
  database       = var.database
  secret_arn     = aws_redshiftserverless_namespace.this.admin_password_secret_arn
  sql            = "create user \"${each.key}\" password disable"
}

resource "aws_redshiftdata_statement" "memberships" {
  for_each       = local.memberships
  workgroup_name = aws_redshiftserverless_workgroup.this.workgroup_name
  database       = var.database
  secret_arn     = aws_redshiftserverless_namespace.this.admin_password_secret_arn
  sql            = "grant role ${each.value} to \"${each.key}\""
  depends_on     = [aws_redshiftdata_statement.group_roles, aws_redshiftdata_statement.users]
}

# what an analysts' IAM role needs to log in as its reader user: attach this policy to each of reader_role_names
data "aws_iam_policy_document" "reader" {
  statement {
    sid       = "LogInAsTheReaderUser"
    actions   = ["redshift-serverless:GetCredentials"]
    resources = [aws_redshiftserverless_workgroup.this.arn]
  }
}

resource "aws_iam_policy" "reader" {
  name        = "${var.name}-warehouse-reader"
  description = "Temporary credentials of the warehouse reader users (IAMR:<role>, members of wenulake_reader)."
  policy      = data.aws_iam_policy_document.reader.json
}
