package config

import (
	"path/filepath"
	"testing"
)

func TestAWSExample(t *testing.T) {
	c, err := Load(filepath.Join("..", "..", "configs", "aws.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	a := c.Inventory.AWS
	if a == nil || len(a.Accounts) != 2 || a.Accounts[1].ExternalID != "cinch-staging" || len(a.Accounts[1].Regions) != 2 || a.Refresh().Minutes() != 5 {
		t.Fatalf("inventory.aws = %+v", a)
	}
	if c.Apply.Enabled || c.Apply.RoleARN == "" {
		t.Errorf("apply = %+v", c.Apply)
	}
	r := c.Redacted()
	r.Inventory.AWS.Accounts[0].Name = "x"
	r.Apply.Regions[0] = "x"
	if c.Inventory.AWS.Accounts[0].Name != "prod" || c.Apply.Regions[0] != "eu-west-1" {
		t.Error("Redacted must copy the aws and apply sections")
	}
}

func TestAWSValidation(t *testing.T) {
	data := `
files: [a.log]
inventory:
  aws:
    refresh_interval: 1s
    accounts: [{role_arn: "prod"}]
apply:
  enabled: true
`
	_, err := Parse([]byte(data), "c.yaml", nil)
	mustContain(t, err, "inventory.aws.refresh_interval", "inventory.aws.accounts[0].role_arn", "apply.role_arn")
	env := map[string]string{"CINCH_APPLY_ENABLED": "true",
		"CINCH_APPLY_ROLE_ARN": "arn:aws:iam::1:role/a", "CINCH_INVENTORY_AWS_REGIONS": "eu-west-1,us-east-1"}
	c, err := Parse([]byte("files: [a.log]\n"), "c.yaml", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if !c.Apply.Enabled || c.Inventory.AWS == nil || len(c.Inventory.AWS.Regions) != 2 {
		t.Errorf("env: apply %+v aws %+v", c.Apply, c.Inventory.AWS)
	}
}
