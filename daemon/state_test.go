package daemon

import (
	"reflect"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/analysis"
	"github.com/cinch-sg/cinch/simulate"
	"github.com/cinch-sg/cinch/sketch"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

// A shard's merge (closed buckets cached, the newest merged live) equals
// merging every bucket, through new buckets, late records into old ones and
// expiry.
func TestShardMergeCache(t *testing.T) {
	acct := simulate.NewAccount(simulate.DefaultConfig())
	inv, err := acct.Inventory()
	if err != nil {
		t.Fatal(err)
	}
	eng := analysis.NewEngine(inv)
	s := newShard("t/0", eng, sketch.DefaultConfig(), 3600)
	p := flowlog.NewParser(richFormat)
	tr := acct.Traffic(3, time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))
	tr.PerSecond = 2
	var rec flowlog.Record
	naive := func() advisor.Report {
		acc := analysis.NewAccumulator(eng, sketch.DefaultConfig())
		for _, b := range s.buckets {
			acc.Merge(b)
		}
		return acc.Report(advisor.DefaultConfig())
	}
	cached := func() advisor.Report {
		acc := analysis.NewAccumulator(eng, sketch.DefaultConfig())
		if err := s.mergeInto(acc); err != nil {
			t.Fatal(err)
		}
		return acc.Report(advisor.DefaultConfig())
	}
	feed := func(n int, late bool) {
		for range n {
			f := tr.Next()
			if late {
				f.Start -= 5 * 3600
				f.End -= 5 * 3600
			}
			line := simulate.AppendLine(nil, &f, richFormat)
			if err := p.Parse(line, &rec); err != nil {
				t.Fatal(err)
			}
			s.observe(&rec)
		}
	}
	for round := range 12 {
		feed(4000, round%4 == 3) // some rounds deliver late records into closed buckets
		if round == 8 {
			s.expire(s.watermark, 4*3600, 86400)
		}
		if got, want := cached(), naive(); !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: cached merge differs from merging every bucket", round)
		}
	}
	if len(s.buckets) < 3 {
		t.Fatalf("the test should span several buckets, got %d", len(s.buckets))
	}
}
