// Package input reads flow-log records from files, stdin, streams and single
// payloads (such as Kafka record values). It detects gzip by magic bytes, JSON
// envelopes (CloudWatch subscriptions, Firehose, Lambda) by a leading '{', and the
// header line of S3 text files, parses every line with stream/flowlog and hands
// each record to a callback. Malformed lines are reported and counted, not fatal.
package input

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	gzip "github.com/klauspost/compress/gzip"
	"io"
	"maps"
	"os"
	"slices"

	"github.com/cinch-sg/cinch/stream/envelope"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

// Options configure a Reader.
type Options struct {
	// Format is the format of lines without a header; nil means the default
	// version 2 format. A header line in a file overrides it for that file.
	Format *flowlog.Format
	// FormatByLogGroup gives the format of CloudWatch events per log group; groups
	// not listed use Format.
	FormatByLogGroup map[string]*flowlog.Format
	// MaxObject bounds one JSON object of a stream (DefaultMaxObject when 0).
	MaxObject int
}

// Handler receives each parsed record (NODATA and SKIPDATA included: check
// rec.LogStatus) with its envelope metadata. Both are reused after it returns.
// A non-nil error stops the read and is returned.
type Handler func(rec *flowlog.Record, m *envelope.Meta) error

// Stats counts what a Reader has seen.
type Stats struct {
	Files             int64            // files, streams and payloads read
	Lines             int64            // non-empty lines and events, header lines included
	Records           int64            // lines parsed successfully (NODATA/SKIPDATA included)
	Malformed         int64            // lines or envelopes that could not be parsed
	NoData            int64            // records with log-status NODATA
	SkipData          int64            // records with log-status SKIPDATA
	ControlMessages   int64            // CloudWatch CONTROL_MESSAGEs skipped
	Headers           int64            // header lines recognised
	MalformedByReason map[string]int64 // flowlog.ParseError reasons, plus "envelope" and "other"
	UnknownFields     []string         // unknown field names met in formats, sorted
}

// Add adds o's counts to s (for readers that shared the work).
func (s *Stats) Add(o Stats) {
	s.Files += o.Files
	s.Lines += o.Lines
	s.Records += o.Records
	s.Malformed += o.Malformed
	s.NoData += o.NoData
	s.SkipData += o.SkipData
	s.ControlMessages += o.ControlMessages
	s.Headers += o.Headers
	if len(o.MalformedByReason) > 0 && s.MalformedByReason == nil {
		s.MalformedByReason = map[string]int64{}
	}
	for k, v := range o.MalformedByReason {
		s.MalformedByReason[k] += v
	}
	for _, f := range o.UnknownFields {
		if !slices.Contains(s.UnknownFields, f) {
			s.UnknownFields = append(s.UnknownFields, f)
		}
	}
	slices.Sort(s.UnknownFields)
}

// ReasonEnvelope counts payloads whose envelope could not be decoded.
const ReasonEnvelope = "envelope"

// MaxLine bounds one text line: a longer line is malformed (a flow-log line,
// even with every field, is well under 1 KiB).
const MaxLine = 64 << 10

// ReasonLineTooLong counts lines longer than MaxLine.
const ReasonLineTooLong = "line-too-long"

// DefaultMaxObject bounds one top-level JSON object of a stream, whitespace
// outside strings aside (the largest AWS envelope, a Firehose HTTP request, is
// at most 64 MiB of base64 records).
const DefaultMaxObject = 128 << 20

// Reader reads inputs and accumulates Stats. It is not safe for concurrent use.
type Reader struct {
	opts    Options
	errLog  func(file string, line int, err error)
	parsers map[*flowlog.Format]*flowlog.Parser
	unknown map[string]bool
	stats   Stats
	rec     flowlog.Record
	dec     *envelope.Decoder
	obj     []byte // the JSON object being read from a stream
}

// NewReader returns a Reader. errLog (may be nil) receives every malformed line
// with the input name and 1-based line number (0 when the input has no lines, as
// for CloudWatch events), and, once per Reader and name, a warning about each
// unknown field name, with line 0.
func NewReader(opts Options, errLog func(file string, line int, err error)) *Reader {
	if opts.Format == nil {
		opts.Format = flowlog.DefaultFormat()
	}
	if opts.MaxObject <= 0 {
		opts.MaxObject = DefaultMaxObject
	}
	if errLog == nil {
		errLog = func(string, int, error) {}
	}
	return &Reader{
		opts:    opts,
		errLog:  errLog,
		parsers: map[*flowlog.Format]*flowlog.Parser{},
		unknown: map[string]bool{},
		stats:   Stats{MalformedByReason: map[string]int64{}},
		dec:     envelope.NewDecoder(),
	}
}

// Stats returns a copy of the counters.
func (r *Reader) Stats() Stats {
	s := r.stats
	s.MalformedByReason = maps.Clone(r.stats.MalformedByReason)
	s.UnknownFields = slices.Sorted(maps.Keys(r.unknown))
	return s
}

// ReadFile reads one file; "-" reads standard input. It fails only when the file
// cannot be opened or read (including a corrupt gzip stream).
func (r *Reader) ReadFile(ctx context.Context, path string, fn Handler) error {
	if path == "-" {
		return r.ReadStream(ctx, "-", os.Stdin, fn)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("input: %w", err)
	}
	defer f.Close()
	return r.ReadStream(ctx, path, f, fn)
}

// ReadStream reads one stream named name. Plain text is read line by line;
// gzip is detected by its magic bytes; a stream whose first non-space byte is '{'
// is read as a sequence of JSON envelopes, one top-level object at a time.
//
// A line longer than MaxLine is one malformed line (reason ReasonLineTooLong)
// and reading goes on after it; a JSON object larger than Options.MaxObject (whitespace
// outside strings aside) is one malformed envelope, skipped. Memory therefore
// does not depend on the size of the stream. ReadStream fails when the stream
// could not be read whole (a read error, a truncated or corrupt gzip stream):
// the records handed over until then are only part of the input.
func (r *Reader) ReadStream(ctx context.Context, name string, rd io.Reader, fn Handler) error {
	r.stats.Files++
	br := bufio.NewReaderSize(rd, MaxLine)
	if magic, _ := br.Peek(2); envelope.IsGzip(magic) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("input: %s: gzip: %w", name, err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, MaxLine)
	}
	first, err := firstByte(br)
	if err != nil {
		return fmt.Errorf("input: %s: %w", name, readErr(err))
	}
	if first == '{' {
		return r.jsonStream(ctx, name, br, fn)
	}
	st := r.newFile(name)
	var meta envelope.Meta
	for n := 1; ; n++ {
		if n&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// Longer than MaxLine: one malformed line; skip to its end.
			st.lastLine = n
			r.stats.Lines++
			st.seen = true
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			r.malformed(name, n, ReasonLineTooLong, fmt.Errorf("line longer than %d bytes", MaxLine))
			if err == nil {
				continue
			}
			line = nil
		}
		if len(line) > 0 {
			line = bytes.TrimSuffix(line, []byte{'\n'})
			line = bytes.TrimSuffix(line, []byte{'\r'})
			meta.Line = n
			if e := r.line(st, line, &meta, fn); e != nil {
				return e
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("input: %s: after line %d: %w", name, st.lastLine, readErr(err))
		}
	}
}

// readErr makes a cut-short compressed stream say so.
func readErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("the input ends early (truncated file?): %w", err)
	}
	return err
}

// jsonStream reads concatenated JSON objects, each handed whole (with runs of
// whitespace outside strings squeezed to one space) to the envelope decoder.
func (r *Reader) jsonStream(ctx context.Context, name string, br *bufio.Reader, fn Handler) error {
	var (
		obj        = r.obj[:0]
		depth      int
		inStr, esc bool
		skip       bool // the object is over MaxObject: drop it
		objects    int
		read       int64
	)
	defer func() { r.obj = obj[:0] }()
	flush := func() error {
		objects++
		if skip {
			skip = false
			obj = obj[:0]
			r.malformed(name, 0, ReasonEnvelope, fmt.Errorf("input: JSON object %d is larger than %d bytes: skipped", objects, r.opts.MaxObject))
			return nil
		}
		err := r.payload(ctx, name, obj, fn)
		obj = obj[:0]
		return err
	}
	for {
		chunk, err := br.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) && err != io.EOF {
			return fmt.Errorf("input: %s: JSON object %d: %w", name, objects+1, readErr(err))
		}
		read += int64(len(chunk))
		for i := 0; i < len(chunk); {
			c := chunk[i]
			if inStr {
				if esc {
					esc = false
					if !skip {
						obj = append(obj, c)
					}
					i++
					continue
				}
				// Copy up to the next quote or backslash.
				span := chunk[i:]
				if q := bytes.IndexByte(span, '"'); q >= 0 {
					span = span[:q]
				}
				if b := bytes.IndexByte(span, '\\'); b >= 0 {
					span = span[:b]
				}
				if !skip {
					obj = append(obj, span...)
				}
				if i += len(span); i < len(chunk) {
					c = chunk[i]
					if !skip {
						obj = append(obj, c)
					}
					i++
					esc, inStr = c == '\\', c == '\\'
				}
			} else if isSpace(c) {
				for i < len(chunk) && isSpace(chunk[i]) {
					i++
				}
				if depth > 0 && !skip && obj[len(obj)-1] != ' ' {
					obj = append(obj, ' ')
				}
				continue
			} else {
				if depth == 0 && c != '{' {
					r.malformed(name, 0, ReasonEnvelope, fmt.Errorf("input: after JSON object %d: %q where an object should start: the rest of the input is skipped", objects, c))
					return nil
				}
				i++
				if !skip {
					obj = append(obj, c)
				}
				switch c {
				case '"':
					inStr = true
				case '{', '[':
					depth++
				case '}', ']':
					depth--
				}
			}
			if !skip && len(obj) > r.opts.MaxObject {
				skip = true
				obj = obj[:0]
			}
			if depth == 0 && !inStr {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err == io.EOF {
			break
		}
		if objects&63 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	if depth > 0 || inStr {
		obj = obj[:0]
		r.malformed(name, 0, ReasonEnvelope, fmt.Errorf("input: JSON object %d ends early (at byte %d of the input)", objects+1, read))
	}
	return nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// firstByte returns the first non-whitespace byte without consuming it (0 at EOF).
func firstByte(br *bufio.Reader) (byte, error) {
	for n := 1; ; n++ {
		b, err := br.Peek(n)
		if len(b) == n {
			c := b[n-1]
			if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
				return c, nil
			}
			if n < br.Size() {
				continue
			}
			return 0, nil
		}
		if errors.Is(err, io.EOF) {
			return 0, nil
		}
		return 0, err
	}
}

// ReadPayload reads one in-memory payload (a Kafka record value, an HTTP body):
// any envelope envelope.Decode understands, or plain text.
func (r *Reader) ReadPayload(ctx context.Context, name string, payload []byte, fn Handler) error {
	r.stats.Files++
	return r.payload(ctx, name, payload, fn)
}

func (r *Reader) payload(ctx context.Context, name string, payload []byte, fn Handler) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	st := r.newFile(name)
	before := r.dec.Stats().ControlMessages
	var fnErr error
	_, err := r.dec.Decode(payload, func(line []byte, m *envelope.Meta) error {
		if e := r.line(st, line, m, fn); e != nil {
			fnErr = e
			return e
		}
		return nil
	})
	r.stats.ControlMessages += int64(r.dec.Stats().ControlMessages - before)
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		r.malformed(name, 0, ReasonEnvelope, err)
	}
	return nil
}

// fileState is the per-input parsing state.
type fileState struct {
	name     string
	parser   *flowlog.Parser // from a header line; nil until one is seen
	lastLine int
	seen     bool // a non-empty line was seen
}

func (r *Reader) newFile(name string) *fileState { return &fileState{name: name} }

func (r *Reader) parser(f *flowlog.Format) *flowlog.Parser {
	p, ok := r.parsers[f]
	if !ok {
		p = flowlog.NewParser(f)
		r.parsers[f] = p
		r.noteUnknown(f, "")
	}
	return p
}

// noteUnknown warns once about each unknown field of f.
func (r *Reader) noteUnknown(f *flowlog.Format, file string) {
	for _, u := range f.Unknown() {
		if !r.unknown[u] {
			r.unknown[u] = true
			r.errLog(file, 0, fmt.Errorf("input: unknown flow-log field %q, carried as text", u))
		}
	}
}

func (r *Reader) line(st *fileState, line []byte, m *envelope.Meta, fn Handler) error {
	st.lastLine = m.Line
	if len(bytes.TrimSpace(line)) == 0 {
		return nil
	}
	r.stats.Lines++
	first := !st.seen
	st.seen = true
	p := st.parser
	if m.LogGroup != "" {
		if f, ok := r.opts.FormatByLogGroup[m.LogGroup]; ok {
			p = r.parser(f)
		}
	}
	if p == nil {
		p = r.parser(r.opts.Format)
	}
	// A header line: the first line of a text file, or (after concatenation)
	// a later line that does not parse but reads as field names.
	if m.LogGroup == "" && first {
		if r.header(st, line) {
			return nil
		}
	}
	err := p.Parse(line, &r.rec)
	if err != nil && m.LogGroup == "" && !first && isLetter(line) && r.header(st, line) {
		return nil
	}
	if err != nil {
		reason := "other"
		var pe *flowlog.ParseError
		if errors.As(err, &pe) {
			reason = pe.Reason
		}
		if m.EventID != "" {
			err = fmt.Errorf("event %s: %w", m.EventID, err)
		}
		r.malformed(st.name, m.Line, reason, err)
		return nil
	}
	r.stats.Records++
	switch r.rec.LogStatus {
	case flowlog.StatusNoData:
		r.stats.NoData++
	case flowlog.StatusSkipData:
		r.stats.SkipData++
	}
	if err := fn(&r.rec, m); err != nil {
		return err
	}
	return nil
}

// header switches st to the format of line when line is a header line.
func (r *Reader) header(st *fileState, line []byte) bool {
	f, ok := flowlog.FormatFromHeader(line)
	if !ok {
		return false
	}
	r.stats.Headers++
	r.noteUnknown(f, st.name)
	st.parser = flowlog.NewParser(f)
	return true
}

func isLetter(b []byte) bool {
	b = bytes.TrimLeft(b, " \t")
	return len(b) > 0 && (b[0]|0x20) >= 'a' && (b[0]|0x20) <= 'z'
}

func (r *Reader) malformed(name string, line int, reason string, err error) {
	r.stats.Malformed++
	r.stats.MalformedByReason[reason]++
	r.errLog(name, line, err)
}
