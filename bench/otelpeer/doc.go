// Package otelpeer is a peer-anchor benchmark: cinch's flow-log parser against
// the OpenTelemetry Collector's VPC flow log unmarshaler (awslogsencodingextension)
// on the same bytes. It lives in its own module so the Collector's dependency tree
// stays out of cinch's go.mod. See README.md.
package otelpeer
