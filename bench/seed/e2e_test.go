//go:build e2e

package seed

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/cinch-sg/cinch/internal/chtest"
)

// TestE2ESeedAgrees: on the real ClickHouse 18.16 server, the seed's
// approach (enriched flows, one query per rule, the same advisor) reaches
// exactly cinch's verdicts on every rule of a small account.
func TestE2ESeedAgrees(t *testing.T) {
	addr := os.Getenv("CINCH_TEST_CLICKHOUSE_ADDR")
	if addr == "" {
		t.Fatal("CINCH_TEST_CLICKHOUSE_ADDR is not set: run scripts/test.sh, which starts ClickHouse")
	}
	chtest.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := Run(ctx, Options{Addr: addr, Database: fmt.Sprintf("cinch_seed_%d", time.Now().UnixNano()),
		Records: 50000, Apps: 5, Seed: 3, BatchSize: 7000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rules < 50 || res.QueriedRules != res.Rules || res.SeedRows == 0 || res.SeedRows >= res.Records {
		t.Fatalf("unexpected run: %+v", res)
	}
	if res.Agree != res.Rules {
		t.Fatalf("verdicts differ on %d of %d rules:\n%s", res.Rules-res.Agree, res.Rules, res)
	}
	// A sample is compared on the sample only.
	res, err = Run(ctx, Options{Addr: addr, Database: fmt.Sprintf("cinch_seed_%d", time.Now().UnixNano()),
		Records: 20000, Apps: 5, Seed: 4, SampleRules: 10})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Extrapolated || res.QueriedRules < 10 || res.QueriedRules >= res.Rules || res.Agree != res.QueriedRules {
		t.Fatalf("sampled run: %+v", res)
	}
}
