// Package s3flow finds the VPC flow-log files that a flow log delivering to
// S3 wrote for a range of days, in both key layouts AWS uses:
//
//	[prefix/]AWSLogs/<account>/vpcflowlogs/<region>/<yyyy>/<mm>/<dd>/[<HH>/]<file>
//	[prefix/]AWSLogs/aws-account-id=<account>/aws-service=vpcflowlogs/aws-region=<region>/year=<yyyy>/month=<mm>/day=<dd>/[hour=<HH>/]<file>
//
// Text files (.log, .log.gz) are listed; Parquet files are counted and left
// out. The files themselves (gzip, a header line giving the format) are read
// by package stream/input.
package s3flow

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// API is the part of the S3 API the package calls (*s3.Client has it).
type API interface {
	s3.ListObjectsV2APIClient
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Range says which files to list.
type Range struct {
	// Bucket and Prefix locate the flow logs: the prefix given to the flow
	// log ("" for none), before "AWSLogs/".
	Bucket, Prefix string
	// From and To are the first and last day (UTC, inclusive).
	From, To time.Time
	// Accounts and Regions restrict the listing (empty: every one found).
	Accounts, Regions []string
}

// Object is one flow-log file.
type Object struct {
	Key  string
	Size int64
}

// Listing is what List found.
type Listing struct {
	Objects []Object // text files, sorted by key
	Parquet int      // Parquet files left out
	Other   int      // other files left out
}

// ParseURL splits "s3://bucket/prefix" into bucket and prefix.
func ParseURL(u string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	if !ok || rest == "" {
		return "", "", fmt.Errorf("%q: want s3://BUCKET[/PREFIX]", u)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%q: no bucket", u)
	}
	return bucket, prefix, nil
}

// ParseDay parses a day as 2006-01-02.
func ParseDay(s string) (time.Time, error) {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("day %q: want YYYY-MM-DD", s)
	}
	return t, nil
}

// dirs lists the "directories" right under prefix.
func dirs(ctx context.Context, api API, bucket, prefix string) ([]string, error) {
	var out []string
	p := s3.NewListObjectsV2Paginator(api, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, cp := range page.CommonPrefixes {
			out = append(out, aws.ToString(cp.Prefix))
		}
	}
	return out, nil
}

// List finds the flow-log files of the range.
func List(ctx context.Context, api API, r Range) (*Listing, error) {
	if r.To.Before(r.From) {
		return nil, fmt.Errorf("range: %s is before %s", r.To.Format("2006-01-02"), r.From.Format("2006-01-02"))
	}
	base := r.Prefix
	if base != "" && !strings.HasSuffix(base, "/") {
		base += "/"
	}
	base += "AWSLogs/"
	accts, err := dirs(ctx, api, r.Bucket, base)
	if err != nil {
		return nil, err
	}
	l := &Listing{}
	for _, a := range accts {
		name := strings.TrimSuffix(strings.TrimPrefix(a, base), "/")
		acct, hive := strings.CutPrefix(name, "aws-account-id=")
		if len(r.Accounts) > 0 && !slices.Contains(r.Accounts, acct) {
			continue
		}
		svc := a + "vpcflowlogs/"
		if hive {
			svc = a + "aws-service=vpcflowlogs/"
		}
		regions, err := dirs(ctx, api, r.Bucket, svc)
		if err != nil {
			return nil, err
		}
		for _, rg := range regions {
			region := strings.TrimPrefix(strings.TrimSuffix(strings.TrimPrefix(rg, svc), "/"), "aws-region=")
			if len(r.Regions) > 0 && !slices.Contains(r.Regions, region) {
				continue
			}
			for d := r.From.UTC().Truncate(24 * time.Hour); !d.After(r.To); d = d.Add(24 * time.Hour) {
				day := rg + d.Format("2006/01/02/")
				if hive {
					day = rg + d.Format("year=2006/month=01/day=02/")
				}
				if err := l.add(ctx, api, r.Bucket, day); err != nil {
					return nil, err
				}
			}
		}
	}
	slices.SortFunc(l.Objects, func(a, b Object) int { return strings.Compare(a.Key, b.Key) })
	return l, nil
}

func (l *Listing) add(ctx context.Context, api API, bucket, prefix string) error {
	p := s3.NewListObjectsV2Paginator(api, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("listing s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			k := aws.ToString(o.Key)
			switch {
			case strings.HasSuffix(k, ".log.gz"), strings.HasSuffix(k, ".log"):
				l.Objects = append(l.Objects, Object{Key: k, Size: aws.ToInt64(o.Size)})
			case strings.HasSuffix(k, ".parquet"):
				l.Parquet++
			default:
				l.Other++
			}
		}
	}
	return nil
}

// Open returns the body of one file.
func Open(ctx context.Context, api API, bucket, key string) (io.ReadCloser, error) {
	out, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("s3://%s/%s: %w", bucket, key, err)
	}
	return out.Body, nil
}
