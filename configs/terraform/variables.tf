variable "name" {
  description = "Prefix of every resource this module creates."
  type        = string
  default     = "cinch"
}

variable "vpc_ids" {
  description = "VPCs whose flow logs cinch reads. Flow logs cover every interface of a VPC, so that cinch observes all of them (it keeps the rules of groups with unobserved interfaces)."
  type        = list(string)
}

variable "log_retention_days" {
  description = "Retention of the flow-log group. cinch judges rules over its window (30 days by default) from the stream, so CloudWatch needs to keep little."
  type        = number
  default     = 7
}

variable "forwarder_zip" {
  description = "Path of the forwarder Lambda's deployment package: a zip holding `bootstrap`, cinch built for linux/arm64 (GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -o bootstrap .)."
  type        = string
}

variable "kafka_brokers" {
  description = "Kafka bootstrap brokers (host:port) the forwarder writes to."
  type        = list(string)
}

variable "kafka_topic" {
  description = "Kafka topic of the flow logs; the daemon's kafka.topics."
  type        = string
  default     = "flowlogs"
}

variable "forwarder_subnet_ids" {
  description = "Subnets the forwarder Lambda runs in, to reach the brokers (empty: no VPC attachment)."
  type        = list(string)
  default     = []
}

variable "forwarder_security_group_ids" {
  description = "Security groups of the forwarder Lambda when it runs in a VPC."
  type        = list(string)
  default     = []
}

variable "reader_principal_arns" {
  description = "Principals (the daemon's role, for instance) allowed to assume the read role."
  type        = list(string)
}

variable "applier_principal_arns" {
  description = "Principals allowed to assume the apply role; empty creates no apply role (apply stays impossible)."
  type        = list(string)
  default     = []
}

variable "external_id" {
  description = "External id the daemon presents when it assumes the roles (inventory.aws accounts[].external_id)."
  type        = string
  sensitive   = true
}

variable "apply_vpc_arns" {
  description = "VPC ARNs whose security groups the apply role may change (arn:aws:ec2:REGION:ACCOUNT:vpc/vpc-...)."
  type        = list(string)
  default     = []
}
