// Package kafka is cinch's Kafka input: a consumer-group client that hands
// VPC Flow Log payloads (CloudWatch Logs subscription envelopes forwarded to
// Kafka) to the daemon while leaving the daemon in full control of offsets.
//
// The daemon checkpoints per-partition analysis state together with the
// offsets that state includes, and commits Kafka offsets only after the
// checkpoint is durable. The [Handler] interface reflects that contract:
//
//   - [Handler.Assigned] tells the consumer where to resume each newly
//     assigned partition (its checkpoint), or -1 to fall back to the group's
//     committed offset (or the start/end of the partition when none exists);
//   - [Handler.Revoked] checkpoints partitions about to move elsewhere and
//     returns the offsets the consumer commits synchronously before the
//     rebalance completes;
//   - [Handler.Lost] drops state for partitions lost without a chance to
//     commit;
//   - [Handler.Handle] receives each poll's records, per partition, in offset
//     order.
//
// Rebalances only happen between polls (franz-go's BlockRebalanceOnPoll), so
// the handler never sees callbacks interleaved with record processing.
//
// The package also provides a small [Producer], [EnsureTopics] for tests,
// the demo and the load command, and [Consumer.DeadLetter] for records that
// cannot be decoded.
package kafka
