output "log_group_name" {
  description = "The flow-log group: name it under the daemon's formats.log_groups with flow_log_format."
  value       = aws_cloudwatch_log_group.flow_logs.name
}

output "flow_log_format" {
  description = "The custom flow-log format, for the daemon's formats.log_groups."
  value       = local.flow_log_format
}

output "reader_role_arn" {
  description = "Role the daemon assumes to read the inventory (inventory.aws accounts[].role_arn)."
  value       = aws_iam_role.reader.arn
}

output "applier_role_arn" {
  description = "Role for apply, when created."
  value       = length(aws_iam_role.applier) > 0 ? aws_iam_role.applier[0].arn : null
}
