package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/cinch-sg/cinch/daemon/config"
	"github.com/cinch-sg/cinch/inventory/awsapi"
	"github.com/cinch-sg/cinch/stream/envelope"
	"github.com/cinch-sg/cinch/stream/flowlog"
	"github.com/cinch-sg/cinch/stream/s3flow"
)

// maxS3Object bounds one flow-log file read into memory (AWS writes files
// of at most about 75 MB compressed).
const maxS3Object = 512 << 20

// readS3Backfills reads every configured range once.
func (d *Daemon) readS3Backfills(ctx context.Context) {
	for _, b := range d.cfg.S3Backfill {
		if ctx.Err() != nil {
			return
		}
		if err := d.readS3Backfill(ctx, b); err != nil && ctx.Err() == nil {
			d.log.Error("s3 backfill stopped; a restart resumes after the last file read whole", "url", b.URL, "err", err)
		}
	}
}

// readS3Backfill reads one range as one shard. The files are taken in key
// order; the shard's position is the number of files read whole, saved with
// its state at each file, so a restart resumes exactly after the last one.
// Each file is downloaded whole before it is parsed, so a failed download
// adds nothing. The shard key includes the range: another range is another
// backfill (ranges should not overlap, or their files count twice).
func (d *Daemon) readS3Backfill(ctx context.Context, b config.S3Backfill) error {
	bucket, prefix, err := s3flow.ParseURL(b.URL)
	if err != nil {
		return err
	}
	from, err := s3flow.ParseDay(b.From)
	if err != nil {
		return err
	}
	to, err := s3flow.ParseDay(b.To)
	if err != nil {
		return err
	}
	var regions []string
	if d.cfg.Inventory.AWS != nil {
		regions = d.cfg.Inventory.AWS.Regions
	}
	api, err := awsapi.NewS3Default(ctx, regions)
	if err != nil {
		return err
	}
	l, err := s3flow.List(ctx, api, s3flow.Range{Bucket: bucket, Prefix: prefix, From: from, To: to, Accounts: b.Accounts, Regions: b.Regions})
	if err != nil {
		return err
	}
	key := fmt.Sprintf("s3:%s@%s..%s", b.URL, b.From, b.To)
	s, next := d.newShardFor(key)
	if next < 0 || next > int64(len(l.Objects)) {
		next = 0
	}
	d.mu.Lock()
	d.shards[key] = s
	d.mu.Unlock()
	d.log.Info("s3 backfill", "url", b.URL, "from", b.From, "to", b.To, "files", len(l.Objects), "done", next, "parquet_left_out", l.Parquet)
	rd, bad := d.inputReader("s3 backfill input")
	defer bad.flush()
	for i := int(next); i < len(l.Objects); i++ {
		o := l.Objects[i]
		body, err := s3flow.Open(ctx, api, bucket, o.Key)
		if err != nil {
			return err
		}
		data, err := io.ReadAll(io.LimitReader(body, maxS3Object+1))
		body.Close()
		if err != nil {
			return fmt.Errorf("s3://%s/%s: %w", bucket, o.Key, err)
		}
		if len(data) > maxS3Object {
			return fmt.Errorf("s3://%s/%s: larger than %d bytes", bucket, o.Key, maxS3Object)
		}
		sk := shardSink{d: d, s: s}
		n := 0
		s.mu.Lock()
		// Parsed from memory to the end whatever ctx says: a file counts whole or not at all.
		err = rd.ReadStream(context.Background(), "s3://"+bucket+"/"+o.Key, bytes.NewReader(data), func(rec *flowlog.Record, m *envelope.Meta) error {
			d.met.RecordsConsumed.Inc()
			sk.record(rec, m)
			n++
			return nil
		})
		d.met.RecordsParsed.Add(float64(sk.parsed))
		s.next = int64(i + 1)
		s.unsaved = true
		s.mu.Unlock()
		if err != nil {
			d.log.Warn("s3 backfill: file cut short", "file", o.Key, "records", n, "err", err)
		}
		if _, err := d.checkpointShard(s); err != nil {
			return err
		}
	}
	d.log.Info("s3 backfill done", "url", b.URL, "files", len(l.Objects))
	return nil
}
