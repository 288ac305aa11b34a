# The forwarder: `cinch forward` built as a Lambda handler, subscribed to the
# flow-log group; it writes each CloudWatch Logs payload to Kafka, keyed by
# log group.
data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "forwarder" {
  name               = "${var.name}-forwarder"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

resource "aws_iam_role_policy_attachment" "forwarder_logs" {
  role       = aws_iam_role.forwarder.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

resource "aws_iam_role_policy_attachment" "forwarder_vpc" {
  count      = length(var.forwarder_subnet_ids) > 0 ? 1 : 0
  role       = aws_iam_role.forwarder.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

resource "aws_lambda_function" "forwarder" {
  function_name    = "${var.name}-forward"
  role             = aws_iam_role.forwarder.arn
  filename         = var.forwarder_zip
  source_code_hash = filebase64sha256(var.forwarder_zip)
  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  handler          = "bootstrap"
  timeout          = 60
  memory_size      = 256
  environment {
    variables = {
      CINCH_KAFKA_BROKERS = join(",", var.kafka_brokers)
      CINCH_FORWARD_TOPIC = var.kafka_topic
    }
  }
  dynamic "vpc_config" {
    for_each = length(var.forwarder_subnet_ids) > 0 ? [1] : []
    content {
      subnet_ids         = var.forwarder_subnet_ids
      security_group_ids = var.forwarder_security_group_ids
    }
  }
}

resource "aws_lambda_permission" "logs" {
  statement_id  = "cloudwatch-logs"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.forwarder.function_name
  principal     = "logs.amazonaws.com"
  source_arn    = "${aws_cloudwatch_log_group.flow_logs.arn}:*"
}

resource "aws_cloudwatch_log_subscription_filter" "forwarder" {
  name            = "${var.name}-forward"
  log_group_name  = aws_cloudwatch_log_group.flow_logs.name
  filter_pattern  = ""
  destination_arn = aws_lambda_function.forwarder.arn
  depends_on      = [aws_lambda_permission.logs]
}
