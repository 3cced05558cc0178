output "keyring_secret_arn" {
  description = "ARN of the keyring secret."
  value       = aws_secretsmanager_secret.keyring.arn
}
