package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cinch-sg/cinch/analysis"
	"github.com/cinch-sg/cinch/inventory/awsapi"
	"github.com/cinch-sg/cinch/stream/envelope"
	"github.com/cinch-sg/cinch/stream/flowlog"
	"github.com/cinch-sg/cinch/stream/input"
	"github.com/cinch-sg/cinch/stream/s3flow"
)

// s3Flags select flow-log files in S3 for a range of days.
type s3Flags struct {
	urls     stringList
	from, to string
}

func (f *s3Flags) register(fs *flag.FlagSet) {
	fs.Var(&f.urls, "s3", "flow-log files delivered to s3://BUCKET[/PREFIX] (both key layouts; repeatable); needs --from and --to")
	fs.StringVar(&f.from, "from", "", "with --s3: first day, YYYY-MM-DD (UTC)")
	fs.StringVar(&f.to, "to", "", "with --s3: last day, YYYY-MM-DD (UTC, inclusive)")
}

// read lists and reads the files of every location into acc.
func (f *s3Flags) read(ctx context.Context, env *Env, ff *flowFlags, af *awsFlags, acc *analysis.Accumulator) (input.Stats, error) {
	if len(f.urls) == 0 {
		if f.from != "" || f.to != "" {
			return input.Stats{}, errors.New("--from and --to need --s3")
		}
		return input.Stats{}, nil
	}
	from, err := s3flow.ParseDay(f.from)
	if err != nil {
		return input.Stats{}, fmt.Errorf("--from: %w", err)
	}
	to, err := s3flow.ParseDay(f.to)
	if err != nil {
		return input.Stats{}, fmt.Errorf("--to: %w", err)
	}
	var api *s3.Client
	if af.client != nil {
		api = awsapi.NewS3(af.client.AWSConfigs()[0])
	} else if api, err = awsapi.NewS3Default(ctx, nil); err != nil {
		return input.Stats{}, err
	}
	rd, err := ff.reader(env)
	if err != nil {
		return input.Stats{}, err
	}
	for _, u := range f.urls {
		bucket, prefix, err := s3flow.ParseURL(u)
		if err != nil {
			return input.Stats{}, fmt.Errorf("--s3 %w", err)
		}
		l, err := s3flow.List(ctx, api, s3flow.Range{Bucket: bucket, Prefix: prefix, From: from, To: to})
		if err != nil {
			return input.Stats{}, err
		}
		if !ff.quiet {
			fmt.Fprintf(env.Stderr, "cinch: %s: %d flow-log files from %s to %s (%d Parquet files left out)\n",
				u, len(l.Objects), f.from, f.to, l.Parquet)
		}
		for _, o := range l.Objects {
			body, err := s3flow.Open(ctx, api, bucket, o.Key)
			if err != nil {
				return input.Stats{}, err
			}
			name := "s3://" + bucket + "/" + o.Key
			err = rd.ReadStream(ctx, name, body, func(r *flowlog.Record, _ *envelope.Meta) error {
				acc.Observe(r)
				return nil
			})
			body.Close()
			if err != nil {
				// A file cut short is an error, never a smaller analysis.
				return input.Stats{}, fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	return rd.Stats(), nil
}
