package analysis

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"

	"github.com/cinch-sg/cinch/advisor"
	"github.com/cinch-sg/cinch/sketch"
	"github.com/cinch-sg/cinch/stream/flowlog"
)

// wantDiff is where a and b judge some port differently, as PortDiff says it:
// per port, discounted or surely a service; per 64-port bucket, all
// discounted or all surely a service.
func wantDiff(a, b *verdicts) *PortDiff {
	d := &PortDiff{}
	for ps := range 4 {
		pi, si := ps/2, ps%2
		for w := range 1024 {
			ar, ao, as := a.reply[pi][si][w], a.other[pi][si][w], a.sure[pi][si][w]
			br, bo, bs := b.reply[pi][si][w], b.other[pi][si][w], b.sure[pi][si][w]
			if ar == br && ao == bo && as == bs {
				continue
			}
			for bit := range 64 {
				p := uint16(w*64 + bit)
				egress := si == 1
				proto := []uint8{6, 17}[pi]
				if a.discounted(proto, egress, p) != b.discounted(proto, egress, p) || a.sureRequest(proto, egress, p) != b.sureRequest(proto, egress, p) {
					d.ports[ps][w] |= 1 << bit
				}
			}
			full := ^uint64(0)
			if (ar == full && ao == 0) != (br == full && bo == 0) || (as == full) != (bs == full) {
				d.buckets[ps][w/64] |= 1 << (w % 64)
			}
		}
	}
	return d
}

// TestPortJudgeIncremental: over rounds of random records into several
// partitions (an interface's records split over them), expiry, restored and
// replaced partitions, a PortJudge's verdicts always equal judging the merge
// of every partition's evidence; its diff is exactly where the verdicts
// changed; and a rule whose PortDeps the diff leaves alone is judged the same
// under the old and the new verdicts (so an incremental evaluation may skip
// it).
func TestPortJudgeIncremental(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	parser := flowlog.NewParser(richFormat)
	cfg := advisor.DefaultConfig()
	rounds, skipped, rejudged := 0, 0, 0
	for iter := range 12 {
		w := randomWorld(r, 3000+r.IntN(3000))
		eng := NewEngine(w.inv)
		parts := make([]*Accumulator, 1+r.IntN(4))
		for i := range parts {
			parts[i] = NewAccumulator(eng, sketch.DefaultConfig())
		}
		j := NewPortJudge()
		var prev *verdicts
		var rec flowlog.Record
		next := 0
		for round := 0; next < len(w.records); round++ {
			// A batch of records, each into a random partition; small batches
			// change few verdicts.
			n := 1 + r.IntN([]int{5, 40, 400}[r.IntN(3)])
			for ; n > 0 && next < len(w.records); n-- {
				if parser.Parse(w.records[next], &rec) == nil {
					parts[r.IntN(len(parts))].Observe(&rec)
				}
				next++
			}
			switch x := r.IntN(12); {
			case x == 0:
				// time passes: old evidence leaves one partition's window
				parts[r.IntN(len(parts))].ExpireEvidence(1_790_000_000 + int64(r.IntN(86400)))
			case x == 1:
				// a partition restarts from its snapshot (new evidence objects)
				i := r.IntN(len(parts))
				snap, err := parts[i].Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				back := NewAccumulator(eng, sketch.DefaultConfig())
				if _, err := back.Restore(snap); err != nil {
					t.Fatal(err)
				}
				parts[i] = back
			case x == 2 && len(parts) > 1:
				// a partition moves away
				i := r.IntN(len(parts))
				parts = append(parts[:i], parts[i+1:]...)
			case x == 3:
				// and one arrives
				parts = append(parts, NewAccumulator(eng, sketch.DefaultConfig()))
			case x == 4:
				// a partition takes in records from elsewhere (a peer's state)
				o := NewAccumulator(eng, sketch.DefaultConfig())
				for range 1 + r.IntN(200) {
					if parser.Parse(w.records[r.IntN(len(w.records))], &rec) == nil {
						o.Observe(&rec)
					}
				}
				if err := parts[r.IntN(len(parts))].Merge(o); err != nil {
					t.Fatal(err)
				}
			}
			j.Begin()
			for _, p := range parts {
				j.Scan(p)
			}
			for _, p := range parts {
				j.Take(p)
			}
			got, diff := j.Judge()

			merged := NewAccumulator(eng, sketch.DefaultConfig())
			for _, p := range parts {
				if err := merged.Merge(p); err != nil {
					t.Fatal(err)
				}
			}
			want := merged.portVerdicts()
			if *got.v != *want {
				t.Fatalf("iter %d round %d: the judge's verdicts differ from judging the merged evidence", iter, round)
			}
			if prev == nil {
				if !diff.all {
					t.Fatalf("iter %d: first round's diff does not say everything changed", iter)
				}
			} else {
				wd := wantDiff(prev, want)
				if diff.ports != wd.ports || diff.buckets != wd.buckets || diff.all {
					t.Fatalf("iter %d round %d: diff is not where the verdicts changed", iter, round)
				}
				// The rules the diff spares judge the same under the previous
				// verdicts (their usage kept, as an incremental evaluation
				// keeps the usage of rules without new records).
				old := &Accumulator{}
				*old = *merged
				old.verdicts = prev
				for i := range eng.rules {
					if !merged.EvidenceDependent(i) {
						continue
					}
					if merged.PortDeps(i).Changed(diff) {
						rejudged++
						continue
					}
					skipped++
					if a, b := old.judge(i, cfg), merged.judge(i, cfg); !reflect.DeepEqual(a, b) {
						t.Fatalf("iter %d round %d: rule %d (%s) spared by the diff, yet judged\n%+v\nunder the old verdicts and\n%+v\nunder the new",
							iter, round, i, eng.rules[i].Key(), a, b)
					}
				}
			}
			prev = want
			rounds++
		}
	}
	t.Logf("%d rounds; evidence-dependent rules spared %d times, judged again %d times", rounds, skipped, rejudged)
	if skipped == 0 || rejudged == 0 {
		t.Fatalf("spared %d, judged again %d: the test exercises neither side", skipped, rejudged)
	}
}

// TestPortDepsCoverJudgement: whatever the verdicts become, a rule whose
// PortDeps the change leaves alone is judged the same: verdicts perturbed at
// random around the ports of the rules' records of uncertain initiator (a
// port, a whole 64-port word turned to replies or to services, a word
// cleared), judged before and after.
func TestPortDepsCoverJudgement(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	parser := flowlog.NewParser(richFormat)
	cfg := advisor.DefaultConfig()
	spared, changed := 0, 0
	for iter := range 8 {
		w := randomWorld(r, 2000+r.IntN(4000))
		eng := NewEngine(w.inv)
		acc := NewAccumulator(eng, sketch.DefaultConfig())
		var rec flowlog.Record
		for _, line := range w.records {
			if parser.Parse(line, &rec) == nil {
				acc.Observe(&rec)
			}
		}
		base := *acc.portVerdicts()
		before := &Accumulator{}
		*before = *acc
		for i := range eng.rules {
			if !acc.EvidenceDependent(i) {
				continue
			}
			deps := acc.PortDeps(i)
			before.verdicts = &base
			want := before.judge(i, cfg)
			for range 30 {
				v := base
				// a word the rule reads, or one next to it
				d := deps[r.IntN(len(deps))]
				ps, n := int(d>>16&3), int(d&0xffff)
				word := n / 64
				if d&depBucket != 0 {
					word = n
				}
				word = min(max(word+r.IntN(3)-1, 0), 1023)
				pi, si := ps/2, ps%2
				switch r.IntN(5) {
				case 0:
					v.reply[pi][si][word] ^= 1 << r.IntN(64)
				case 1:
					v.other[pi][si][word] ^= 1 << r.IntN(64)
				case 2:
					v.sure[pi][si][word] ^= 1 << r.IntN(64)
				case 3:
					v.reply[pi][si][word], v.other[pi][si][word] = ^uint64(0), 0
				case 4:
					v.sure[pi][si][word] = ^uint64(0)
					if r.IntN(2) == 0 {
						v.reply[pi][si][word], v.other[pi][si][word], v.sure[pi][si][word] = 0, 0, 0
					}
				}
				if deps.Changed(wantDiff(&base, &v)) {
					changed++
					continue
				}
				spared++
				acc.verdicts = &v
				if got := acc.judge(i, cfg); !reflect.DeepEqual(got, want) {
					t.Fatalf("iter %d: rule %d (%s): verdicts changed where it does not read, yet judged\n%+v\nbefore and\n%+v\nafter", iter, i, eng.rules[i].Key(), want, got)
				}
			}
		}
	}
	t.Logf("perturbations: %d spared a rule, %d changed what it reads", spared, changed)
	if spared == 0 || changed == 0 {
		t.Fatalf("spared %d, changed %d: the test exercises neither side", spared, changed)
	}
}

// TestPortJudgeSeesCoarsening: a record that turns an interface's exact
// table into buckets without adding a peer to any bucket changes what the
// table says (spans of 256 ports): the judge sees it.
func TestPortJudgeSeesCoarsening(t *testing.T) {
	acc := &Accumulator{evidence: map[string]*endpointEvidence{}}
	ev := &endpointEvidence{}
	acc.evidence["eni-1"] = ev
	a := netip.MustParseAddr("10.0.0.1")
	for p := range evExactMax {
		ev.observe(6, uint16(p), 443, a, false, false, 100)
	}
	j := NewPortJudge()
	round := func() PortVerdicts {
		j.Begin()
		j.Scan(acc)
		j.Take(acc)
		v, _ := j.Judge()
		return v
	}
	round()
	// Port 64 falls in bucket 0, whose entry already lists peer 443.
	ev.observe(6, evExactMax, 443, a, false, false, 100)
	if !ev.t[evTCPLocal].Coarse {
		t.Fatal("the table did not coarsen")
	}
	if got, want := round(), (PortVerdicts{judgePorts(acc.evidence)}); !got.Equal(want) {
		t.Error("the judge's verdicts after coarsening differ from judging the evidence")
	}
}
