# The device keyring ({"keys": {"<key_id>": "<base64 of 32 bytes>"}}) as a Secrets Manager secret under the
# deployment key. Terraform creates the secret only: key material is put by device provisioning
# (`aws secretsmanager put-secret-value`), so it never enters Terraform state.

resource "aws_secretsmanager_secret" "keyring" {
  # checkov:skip=CKV2_AWS_57:device keys are rotated by provisioning a new key_id into the keyring (devices switch key ids), not by a Secrets Manager rotation Lambda that would have to re-key devices
  name                    = "${var.name}/keyring"
  description             = "wenulake device keyring: key_id -> AES-256 key (base64)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_days
}
