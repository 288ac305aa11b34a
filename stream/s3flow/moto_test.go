//go:build e2e

package s3flow

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cinch-sg/cinch/internal/mototest"
)

// TestMotoList: both key layouts, gzip and text, hourly folders, days out of
// range, Parquet and other files, account and region filters.
func TestMotoList(t *testing.T) {
	cfg, acct, _ := mototest.Account(t, "us-east-1")
	ctx := context.Background()
	api := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true; o.DisableLogOutputChecksumValidationSkipped = true })
	bucket := "flows-" + acct
	if _, err := api.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	def := "logs/AWSLogs/" + acct + "/vpcflowlogs/eu-west-1/"
	hive := "logs/AWSLogs/aws-account-id=" + acct + "/aws-service=vpcflowlogs/aws-region=us-east-1/"
	keys := []string{
		def + "2026/11/04/" + acct + "_vpcflowlogs_eu-west-1_fl-1_20261104T2355Z_a.log.gz", // day before
		def + "2026/11/05/" + acct + "_vpcflowlogs_eu-west-1_fl-1_20261105T0000Z_b.log.gz",
		def + "2026/11/05/13/" + acct + "_vpcflowlogs_eu-west-1_fl-1_20261105T1300Z_c.log",
		def + "2026/11/06/" + acct + "_vpcflowlogs_eu-west-1_fl-1_20261106T0000Z_d.parquet",
		hive + "year=2026/month=11/day=06/hour=02/" + acct + "_vpcflowlogs_us-east-1_fl-2_20261106T0200Z_e.log.gz",
		hive + "year=2026/month=11/day=07/" + acct + "_vpcflowlogs_us-east-1_fl-2_20261107T0000Z_f.log.gz", // day after
		def + "2026/11/05/README.txt",
	}
	for _, k := range keys {
		if _, err := api.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	from, _ := ParseDay("2026-11-05")
	to, _ := ParseDay("2026-11-06")
	l, err := List(ctx, api, Range{Bucket: bucket, Prefix: "logs", From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range l.Objects {
		got = append(got, o.Key[strings.LastIndex(o.Key, "_")+1:])
	}
	sorted := slices.IsSortedFunc(l.Objects, func(a, b Object) int { return strings.Compare(a.Key, b.Key) })
	slices.Sort(got)
	if strings.Join(got, ",") != "b.log.gz,c.log,e.log.gz" || !sorted || l.Parquet != 1 || l.Other != 1 {
		t.Errorf("listed %v, %d parquet, %d other", got, l.Parquet, l.Other)
	}
	l, err = List(ctx, api, Range{Bucket: bucket, Prefix: "logs/", From: from, To: to, Regions: []string{"eu-west-1"}})
	if err != nil || len(l.Objects) != 2 {
		t.Errorf("eu-west-1 only: %+v %v", l, err)
	}
	l, err = List(ctx, api, Range{Bucket: bucket, Prefix: "logs", From: from, To: to, Accounts: []string{"999999999999"}})
	if err != nil || len(l.Objects) != 0 {
		t.Errorf("other account: %+v %v", l, err)
	}
	if _, err := List(ctx, api, Range{Bucket: bucket, From: to, To: from}); err == nil {
		t.Error("a reversed range must be an error")
	}
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write([]byte("version account-id\n"))
	zw.Close()
	api.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k.log.gz"), Body: bytes.NewReader(zb.Bytes())})
	rc, err := Open(ctx, api, bucket, "k.log.gz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(b, zb.Bytes()) {
		t.Errorf("Open returned %d bytes, want the %d stored (no transparent decompression)", len(b), zb.Len())
	}
}
