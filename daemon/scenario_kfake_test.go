package daemon

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Fast runs of the scenarios on franz-go's in-process fake cluster; the e2e
// build tag runs the same scenarios against a real Apache Kafka broker.
func fakeBrokers(t *testing.T) []string {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func TestEquivalenceKfake(t *testing.T)  { scenarioEquivalence(t, fakeBrokers(t)) }
func TestTwoInstancesKfake(t *testing.T) { scenarioTwoInstances(t, fakeBrokers(t)) }
func TestDeadLetterKfake(t *testing.T)   { scenarioDeadLetter(t, fakeBrokers(t)) }
func TestRestartKfake(t *testing.T)      { scenarioRestart(t, fakeBrokers(t)) }
