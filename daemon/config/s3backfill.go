package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// S3Backfill reads the flow-log files an S3-delivering flow log wrote over
// a range of days, once, through the same pipeline as the other inputs.
// Its progress is checkpointed with its state: a restart resumes after the
// last file read whole.
type S3Backfill struct {
	// URL is s3://BUCKET[/PREFIX], the prefix given to the flow log (before
	// "AWSLogs/"); both key layouts (default and Hive-style) are read.
	URL string `yaml:"url"`
	// From and To are the first and last day, YYYY-MM-DD (UTC, inclusive).
	From string `yaml:"from"`
	To   string `yaml:"to"`
	// Accounts and Regions restrict the files read (default: all).
	Accounts []string `yaml:"accounts"`
	Regions  []string `yaml:"regions"`
}

func validateBackfills(v *validator, bs []S3Backfill) {
	for i, b := range bs {
		key := fmt.Sprintf("s3_backfill[%d]", i)
		if rest, ok := strings.CutPrefix(b.URL, "s3://"); !ok || rest == "" || strings.HasPrefix(rest, "/") {
			v.add(key+".url", fmt.Sprintf("%q: want s3://BUCKET[/PREFIX]", b.URL))
		}
		from, err1 := time.Parse("2006-01-02", b.From)
		to, err2 := time.Parse("2006-01-02", b.To)
		switch {
		case err1 != nil:
			v.add(key+".from", fmt.Sprintf("%q: want YYYY-MM-DD", b.From))
		case err2 != nil:
			v.add(key+".to", fmt.Sprintf("%q: want YYYY-MM-DD", b.To))
		case to.Before(from):
			v.add(key+".to", "is before from")
		}
	}
}

func cloneBackfills(bs []S3Backfill) []S3Backfill {
	out := slices.Clone(bs)
	for i := range out {
		out[i].Accounts = slices.Clone(bs[i].Accounts)
		out[i].Regions = slices.Clone(bs[i].Regions)
	}
	return out
}
