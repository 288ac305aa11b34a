package forward

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
)

// HandleCloudWatchLogs is the AWS Lambda handler for a CloudWatch Logs
// subscription (lambda.Start(f.HandleCloudWatchLogs)): it forwards the
// event's payload and returns an error, so that Lambda retries the
// invocation, only when Kafka did not take it. A bad payload is dropped
// (retrying cannot fix it) and counted in Stats().Bad.
func (f *Forwarder) HandleCloudWatchLogs(ctx context.Context, ev events.CloudwatchLogsEvent) error {
	if ev.AWSLogs.Data == "" {
		f.st.payloads.Add(1)
		f.st.bad.Add(1)
		return nil
	}
	p, err := base64.StdEncoding.DecodeString(ev.AWSLogs.Data)
	if err != nil {
		f.st.payloads.Add(1)
		f.st.bad.Add(1)
		return nil
	}
	_, err = f.Forward(ctx, [][]byte{p})
	return err
}

// HandleKinesis is the Lambda handler for a Kinesis Data Streams source
// that a CloudWatch Logs subscription writes to: each record's data is a
// subscription payload. It fails the invocation (Lambda retries the batch)
// only when Kafka did not take it.
func (f *Forwarder) HandleKinesis(ctx context.Context, ev events.KinesisEvent) error {
	payloads := make([][]byte, 0, len(ev.Records))
	for _, r := range ev.Records {
		payloads = append(payloads, r.Kinesis.Data)
	}
	if len(payloads) == 0 {
		return nil
	}
	bad, err := f.Forward(ctx, payloads)
	if err != nil {
		return fmt.Errorf("%w (and %d bad records dropped)", err, len(bad))
	}
	return nil
}
