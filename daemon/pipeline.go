package daemon

import (
	"errors"
	"fmt"

	"github.com/cinch-sg/cinch/analysis"
	"github.com/cinch-sg/cinch/daemon/config"
	"github.com/cinch-sg/cinch/stream/envelope"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

// formatSet holds the configured flow-log formats.
type formatSet struct {
	def      *flowlog.Format
	logGroup map[string]*flowlog.Format
}

func newFormatSet(cfg config.Formats) (*formatSet, error) {
	fs := &formatSet{def: flowlog.DefaultFormat(), logGroup: map[string]*flowlog.Format{}}
	if cfg.Default != "" {
		f, err := flowlog.ParseFormat(cfg.Default)
		if err != nil {
			return nil, fmt.Errorf("formats.default: %w", err)
		}
		fs.def = f
	}
	for g, s := range cfg.LogGroups {
		f, err := flowlog.ParseFormat(s)
		if err != nil {
			return nil, fmt.Errorf("formats.log_groups[%q]: %w", g, err)
		}
		fs.logGroup[g] = f
	}
	return fs, nil
}

// decoder turns payloads into records for one shard. It is used by one
// goroutine at a time (the shard's lock holder).
type decoder struct {
	formats *formatSet
	dec     *envelope.Decoder
	def     *flowlog.Parser
	byGroup map[string]*flowlog.Parser
	header  *flowlog.Parser // format of the current plain-text payload's header line
	rec     flowlog.Record
}

func newDecoder(fs *formatSet) *decoder {
	d := &decoder{formats: fs, dec: envelope.NewDecoder(), def: flowlog.NewParser(fs.def), byGroup: map[string]*flowlog.Parser{}}
	for g, f := range fs.logGroup {
		d.byGroup[g] = flowlog.NewParser(f)
	}
	return d
}

// sink receives what a payload held.
type sink interface {
	// record is called for every parsed record with its event id ("" when none).
	record(rec *flowlog.Record, m *envelope.Meta)
	// malformed is called for every line that does not parse.
	malformed(line []byte, m *envelope.Meta, reason string, err error)
}

// decode unwraps a payload and parses every line in it. It returns an error
// only when the payload itself is broken (the caller dead-letters it). A
// header line's format holds for the rest of the payload.
func (d *decoder) decode(payload []byte, s sink) error {
	d.header = nil
	_, err := d.dec.Decode(payload, func(line []byte, m *envelope.Meta) error {
		p := d.parserFor(m.LogGroup)
		if d.header != nil {
			p = d.header
		}
		if err := p.Parse(line, &d.rec); err != nil {
			if m.LogGroup == "" {
				if f, ok := flowlog.FormatFromHeader(line); ok {
					d.header = flowlog.NewParser(f)
					return nil
				}
			}
			s.malformed(line, m, reasonOf(err), err)
			return nil
		}
		s.record(&d.rec, m)
		return nil
	})
	return err
}

// line parses one line of m's log group that came without an envelope (a
// Live Tail event) and hands it to s; it reports whether it parsed (the
// record is then in d.rec).
func (d *decoder) line(line []byte, m *envelope.Meta, s sink) bool {
	if err := d.parserFor(m.LogGroup).Parse(line, &d.rec); err != nil {
		s.malformed(line, m, reasonOf(err), err)
		return false
	}
	s.record(&d.rec, m)
	return true
}

// parserFor returns the parser of log group g's format (the default one for
// a group without its own, or no group).
func (d *decoder) parserFor(g string) *flowlog.Parser {
	if p, ok := d.byGroup[g]; ok && g != "" {
		return p
	}
	return d.def
}

// reasonOf is the failure metric's reason for a parse error.
func reasonOf(err error) string {
	var pe *flowlog.ParseError
	if errors.As(err, &pe) {
		return pe.Reason
	}
	return "malformed"
}

// shardSink attributes a payload's records to a shard and counts them.
type shardSink struct {
	d      *Daemon
	s      *shard
	onBad  func(line []byte, reason string)
	parsed int
	// The CloudWatch batch being read: its key and whether it is a
	// redelivery.
	batch uint64
	dup   bool
	// Lines per log group, for /readyz (flushed by the caller).
	tally groupTally
}

func (k *shardSink) record(rec *flowlog.Record, m *envelope.Meta) {
	if m.LogGroup != "" {
		k.tally.note(&k.d.logGroups, m.LogGroup, true, "")
	}
	if m.Batch != 0 {
		if m.First || m.Batch != k.batch {
			t := m.Timestamp / 1000
			if t == 0 {
				t = rec.Start
			}
			k.batch = m.Batch
			k.dup = k.s.duplicate(m.Batch, t)
		}
		if k.dup {
			k.d.met.DuplicatesDropped.Inc()
			return
		}
	}
	k.parsed++
	if k.s.observe(rec) == analysis.Unattributed {
		k.d.met.Unattributed.Inc()
	}
}

func (k *shardSink) malformed(line []byte, m *envelope.Meta, reason string, err error) {
	k.d.met.RecordsFailed.WithLabelValues(reason).Inc()
	if m.LogGroup == "" && k.onBad == nil {
		return
	}
	why := reason + ": " + err.Error()
	if m.LogGroup != "" {
		k.tally.note(&k.d.logGroups, m.LogGroup, false, why)
	}
	if k.onBad != nil {
		k.onBad(line, why)
	}
}
