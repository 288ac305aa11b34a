# The two least-privilege roles of the daemon: reading the inventory and the
# flow-log configuration, and (separately, optionally) applying accepted
# proposals. The daemon assumes them with the external id.
data "aws_iam_policy_document" "assume_reader" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = var.reader_principal_arns
    }
    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [var.external_id]
    }
  }
}

resource "aws_iam_role" "reader" {
  name               = "${var.name}-read"
  assume_role_policy = data.aws_iam_policy_document.assume_reader.json
}

data "aws_iam_policy_document" "read" {
  statement {
    sid = "Inventory"
    actions = [
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeSecurityGroups",
      "ec2:DescribeSecurityGroupRules",
      "ec2:DescribeManagedPrefixLists",
      "ec2:GetManagedPrefixListEntries",
      "ec2:DescribeFlowLogs",
    ]
    resources = ["*"] # Describe* calls do not support resource-level permissions
  }
  statement {
    sid       = "DeletedInterfaces"
    actions   = ["config:GetResourceConfigHistory"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "read" {
  name   = "read"
  role   = aws_iam_role.reader.id
  policy = data.aws_iam_policy_document.read.json
}

data "aws_iam_policy_document" "assume_applier" {
  count = length(var.applier_principal_arns) > 0 ? 1 : 0
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = var.applier_principal_arns
    }
    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [var.external_id]
    }
  }
}

resource "aws_iam_role" "applier" {
  count              = length(var.applier_principal_arns) > 0 ? 1 : 0
  name               = "${var.name}-apply"
  assume_role_policy = data.aws_iam_policy_document.assume_applier[0].json
}

data "aws_iam_policy_document" "apply" {
  statement {
    sid       = "ReadRules"
    actions   = ["ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules"]
    resources = ["*"]
  }
  statement {
    sid = "ChangeRulesOfTheseVPCs"
    actions = [
      "ec2:AuthorizeSecurityGroupIngress",
      "ec2:AuthorizeSecurityGroupEgress",
      "ec2:RevokeSecurityGroupIngress",
      "ec2:RevokeSecurityGroupEgress",
    ]
    resources = ["arn:aws:ec2:*:*:security-group/*", "arn:aws:ec2:*:*:security-group-rule/*"]
    condition {
      test     = "ArnEquals"
      variable = "ec2:Vpc"
      values   = var.apply_vpc_arns
    }
  }
}

resource "aws_iam_role_policy" "apply" {
  count  = length(var.applier_principal_arns) > 0 ? 1 : 0
  name   = "apply"
  role   = aws_iam_role.applier[0].id
  policy = data.aws_iam_policy_document.apply.json
}
