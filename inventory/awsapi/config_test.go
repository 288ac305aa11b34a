package awsapi

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cstypes "github.com/aws/aws-sdk-go-v2/service/configservice/types"

	"github.com/cinch-sg/cinch/inventory"
	"github.com/cinch-sg/cinch/inventory/awsjson"
)

// eniItem is a GetResourceConfigHistory item of interface eni-gone.
func eniItem(at time.Time, status cstypes.ConfigurationItemStatus, state string, conf string) cstypes.ConfigurationItem {
	it := cstypes.ConfigurationItem{Version: aws.String("1.3"), AccountId: aws.String("123456789012"),
		ConfigurationItemCaptureTime: aws.Time(at), ConfigurationItemStatus: status, ConfigurationStateId: aws.String(state),
		ResourceType: cstypes.ResourceTypeNetworkInterface, ResourceId: aws.String("eni-gone"), AwsRegion: aws.String("eu-west-1"),
		Relationships: []cstypes.Relationship{{RelationshipName: aws.String("Is associated with SecurityGroup"),
			ResourceType: cstypes.ResourceTypeSecurityGroup, ResourceId: aws.String("sg-a")}}}
	if conf != "" {
		it.Configuration = aws.String(conf)
	}
	return it
}

// The SDK's configuration items load through awsjson as versions of the
// deleted interface.
func TestConfigItemsJSON(t *testing.T) {
	t1 := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	t2, t3 := t1.Add(2*time.Hour), t1.Add(5*time.Hour)
	items := []cstypes.ConfigurationItem{
		eniItem(t1, cstypes.ConfigurationItemStatusResourceDiscovered, "1", `{"networkInterfaceId":"eni-gone","vpcId":"vpc-1","groups":[{"groupId":"sg-a"}],"privateIpAddress":"10.0.0.5","privateIpAddresses":[{"privateIpAddress":"10.0.0.5","primary":true}]}`),
		eniItem(t2, cstypes.ConfigurationItemStatusOk, "2", `{"networkInterfaceId":"eni-gone","vpcId":"vpc-1","groups":[{"groupId":"sg-b"}],"privateIpAddress":"10.0.0.5","privateIpAddresses":[{"privateIpAddress":"10.0.0.5","primary":true}]}`),
		eniItem(t3, cstypes.ConfigurationItemStatusResourceDeleted, "3", ""),
	}
	b, err := ConfigItemsJSON(items)
	if err != nil {
		t.Fatal(err)
	}
	inv := inventory.New()
	st, err := awsjson.LoadConfig(inv, bytesReader(b))
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if st.Items != 3 {
		t.Errorf("stats %+v", st)
	}
	for _, c := range []struct {
		at    time.Time
		group string
	}{{t1.Add(time.Minute), "sg-a"}, {t2.Add(time.Minute), "sg-b"}, {t3, ""}} {
		e, ok := inv.ENIAt("eni-gone", c.at)
		switch {
		case c.group == "" && ok:
			t.Errorf("at %v: still valid after the deletion: %+v", c.at, e)
		case c.group != "" && (!ok || !slices.Equal(e.Groups, []string{c.group})):
			t.Errorf("at %v: %+v %v, want %s", c.at, e, ok, c.group)
		}
	}
}
