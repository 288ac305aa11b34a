package awsapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/configservice"
	cstypes "github.com/aws/aws-sdk-go-v2/service/configservice/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cinch-sg/cinch/inventory"
	"github.com/cinch-sg/cinch/inventory/awsjson"
	"github.com/cinch-sg/cinch/stream/s3flow"
)

// ConfigHistoryAPI is the part of the AWS Config API ConfigHistory calls.
type ConfigHistoryAPI interface {
	GetResourceConfigHistory(context.Context, *configservice.GetResourceConfigHistoryInput, ...func(*configservice.Options)) (*configservice.GetResourceConfigHistoryOutput, error)
}

// ConfigHistory looks up, on demand, the AWS Config history of interfaces
// that flows name but EC2 no longer lists. Answers (found or not) are cached
// per interface; calls are spaced by at least the configured interval,
// whatever the number of callers. It is safe for concurrent use.
type ConfigHistory struct {
	clients []ConfigHistoryAPI
	every   time.Duration

	mu    sync.Mutex
	cache map[string]*inventory.Inventory // nil value: not recorded anywhere
	next  time.Time                       // earliest time of the next call
	calls int
}

// DefaultConfigInterval spaces GetResourceConfigHistory calls (AWS Config
// allows a few per second per account).
const DefaultConfigInterval = 200 * time.Millisecond

// NewConfigHistory returns a lookup over the AWS Config APIs of every
// account and region of cl (every is the least time between two calls;
// DefaultConfigInterval when zero).
func NewConfigHistory(cl *Client, every time.Duration) *ConfigHistory {
	var apis []ConfigHistoryAPI
	for _, t := range cl.targets {
		apis = append(apis, configservice.NewFromConfig(t.cfg))
	}
	return NewConfigHistoryFrom(apis, every)
}

// NewConfigHistoryFrom is NewConfigHistory over given clients.
func NewConfigHistoryFrom(apis []ConfigHistoryAPI, every time.Duration) *ConfigHistory {
	if every <= 0 {
		every = DefaultConfigInterval
	}
	return &ConfigHistory{clients: apis, every: every, cache: map[string]*inventory.Inventory{}}
}

// Calls returns how many API calls the lookup made (pages included).
func (h *ConfigHistory) Calls() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls
}

// wait blocks until the next call may be made.
func (h *ConfigHistory) wait(ctx context.Context) error {
	h.mu.Lock()
	now := time.Now()
	at := h.next
	if at.Before(now) {
		at = now
	}
	h.next = at.Add(h.every)
	h.calls++
	h.mu.Unlock()
	if d := time.Until(at); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// Interfaces looks up the history of each interface id and returns an
// inventory with the versions found (interfaces AWS Config never recorded
// are simply absent), and how many ids were found.
func (h *ConfigHistory) Interfaces(ctx context.Context, ids []string) (*inventory.Inventory, int, error) {
	out := inventory.New()
	found := 0
	for _, id := range ids {
		inv, err := h.lookup(ctx, id)
		if err != nil {
			return out, found, err
		}
		if inv != nil {
			found++
			out.Merge(inv)
		}
	}
	return out, found, nil
}

func (h *ConfigHistory) lookup(ctx context.Context, id string) (*inventory.Inventory, error) {
	h.mu.Lock()
	inv, ok := h.cache[id]
	h.mu.Unlock()
	if ok {
		return inv, nil
	}
	var items []cstypes.ConfigurationItem
	for _, c := range h.clients {
		in := &configservice.GetResourceConfigHistoryInput{ResourceType: cstypes.ResourceTypeNetworkInterface,
			ResourceId: aws.String(id), Limit: 100, ChronologicalOrder: cstypes.ChronologicalOrderForward}
		p := configservice.NewGetResourceConfigHistoryPaginator(c, in)
		for p.HasMorePages() {
			if err := h.wait(ctx); err != nil {
				return nil, err
			}
			page, err := p.NextPage(ctx)
			var nd *cstypes.ResourceNotDiscoveredException
			if errors.As(err, &nd) {
				break // not recorded in this account/region
			}
			if err != nil {
				return nil, fmt.Errorf("GetResourceConfigHistory %s: %w", id, err)
			}
			items = append(items, page.ConfigurationItems...)
		}
		if len(items) > 0 {
			break
		}
	}
	if len(items) > 0 {
		inv = inventory.New()
		b, err := ConfigItemsJSON(items)
		if err != nil {
			return nil, err
		}
		if _, err := awsjson.LoadConfig(inv, bytes.NewReader(b)); err != nil {
			return nil, fmt.Errorf("AWS Config history of %s: %w", id, err)
		}
	}
	h.mu.Lock()
	h.cache[id] = inv
	h.mu.Unlock()
	return inv, nil
}

// ConfigItemsJSON renders configuration items as GetResourceConfigHistory's
// JSON ({"configurationItems": [...]}, the API dialect: configuration as a
// JSON string, relationshipName), which package awsjson loads.
func ConfigItemsJSON(items []cstypes.ConfigurationItem) ([]byte, error) {
	type rel struct {
		RelationshipName string `json:"relationshipName,omitempty"`
		ResourceType     string `json:"resourceType,omitempty"`
		ResourceID       string `json:"resourceId,omitempty"`
		ResourceName     string `json:"resourceName,omitempty"`
	}
	type item struct {
		Version                      string            `json:"version,omitempty"`
		AccountID                    string            `json:"accountId,omitempty"`
		CaptureTime                  *time.Time        `json:"configurationItemCaptureTime,omitempty"`
		Status                       string            `json:"configurationItemStatus,omitempty"`
		StateID                      string            `json:"configurationStateId,omitempty"`
		ARN                          string            `json:"arn,omitempty"`
		ResourceType                 string            `json:"resourceType,omitempty"`
		ResourceID                   string            `json:"resourceId,omitempty"`
		ResourceName                 string            `json:"resourceName,omitempty"`
		AWSRegion                    string            `json:"awsRegion,omitempty"`
		AvailabilityZone             string            `json:"availabilityZone,omitempty"`
		ResourceCreationTime         *time.Time        `json:"resourceCreationTime,omitempty"`
		Tags                         map[string]string `json:"tags,omitempty"`
		Relationships                []rel             `json:"relationships"`
		Configuration                *string           `json:"configuration"`
		SupplementaryConfiguration   map[string]string `json:"supplementaryConfiguration,omitempty"`
		ConfigurationItemDeliveryTim *time.Time        `json:"configurationItemDeliveryTime,omitempty"`
	}
	out := make([]item, 0, len(items))
	for _, it := range items {
		j := item{Version: aws.ToString(it.Version), AccountID: aws.ToString(it.AccountId), CaptureTime: it.ConfigurationItemCaptureTime,
			Status: string(it.ConfigurationItemStatus), StateID: aws.ToString(it.ConfigurationStateId), ARN: aws.ToString(it.Arn),
			ResourceType: string(it.ResourceType), ResourceID: aws.ToString(it.ResourceId), ResourceName: aws.ToString(it.ResourceName),
			AWSRegion: aws.ToString(it.AwsRegion), AvailabilityZone: aws.ToString(it.AvailabilityZone),
			ResourceCreationTime: it.ResourceCreationTime, Tags: it.Tags, Configuration: it.Configuration,
			SupplementaryConfiguration: it.SupplementaryConfiguration, ConfigurationItemDeliveryTim: it.ConfigurationItemDeliveryTime,
			Relationships: []rel{}}
		for _, r := range it.Relationships {
			j.Relationships = append(j.Relationships, rel{RelationshipName: aws.ToString(r.RelationshipName),
				ResourceType: string(r.ResourceType), ResourceID: aws.ToString(r.ResourceId), ResourceName: aws.ToString(r.ResourceName)})
		}
		out = append(out, j)
	}
	b, err := json.Marshal(map[string]any{"configurationItems": out})
	if err != nil {
		return nil, fmt.Errorf("encoding configuration items: %w", err)
	}
	return b, nil
}

// S3API is the part of the S3 API the S3 readers call.
type S3API = s3flow.API

// NewS3Default returns an S3 client with the standard credential chain, in
// the configured region, else the first of regions, else us-east-1 (S3
// redirects to a bucket's own region).
func NewS3Default(ctx context.Context, regions []string) (*s3.Client, error) {
	cfg, err := LoadAWSConfig(ctx, Config{})
	if err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
		if len(regions) > 0 {
			cfg.Region = regions[0]
		}
	}
	return NewS3(cfg), nil
}

// LoadConfigS3 loads the AWS Config files under url (s3://BUCKET/PREFIX)
// into inv through the first of c's accounts and regions that finds any: the
// bucket usually lives in one account. It fails when none found any and one
// failed, naming every failure.
func (c *Client) LoadConfigS3(ctx context.Context, url string, inv *inventory.Inventory) (int, error) {
	bucket, prefix, err := s3flow.ParseURL(url)
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, cfg := range c.AWSConfigs() {
		n, err := LoadConfigFiles(ctx, NewS3(cfg), bucket, prefix, inv)
		if err == nil && n > 0 {
			return n, nil
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return 0, fmt.Errorf("AWS Config files %s: %w", url, errors.Join(errs...))
	}
	return 0, nil
}

// LoadConfigFiles loads every AWS Config snapshot and history file
// (".../ConfigSnapshot/..." and ".../ConfigHistory/...", JSON, plain or
// gzip) under s3://bucket/prefix into inv, and returns how many it loaded.
func LoadConfigFiles(ctx context.Context, api S3API, bucket, prefix string, inv *inventory.Inventory) (int, error) {
	n := 0
	p := s3.NewListObjectsV2Paginator(api, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return n, fmt.Errorf("listing s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if !strings.Contains(key, "/ConfigSnapshot/") && !strings.Contains(key, "/ConfigHistory/") {
				continue
			}
			if !strings.HasSuffix(key, ".json") && !strings.HasSuffix(key, ".json.gz") {
				continue
			}
			obj, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			if err != nil {
				return n, fmt.Errorf("s3://%s/%s: %w", bucket, key, err)
			}
			_, err = awsjson.LoadConfig(inv, obj.Body)
			obj.Body.Close()
			if err != nil {
				return n, fmt.Errorf("s3://%s/%s: %w", bucket, key, err)
			}
			n++
		}
	}
	return n, nil
}

// NewS3 returns an S3 client for cfg. Path-style addressing is used when
// AWS_ENDPOINT_URL (or cfg.BaseEndpoint) names a custom endpoint, as local
// S3 implementations need.
func NewS3(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = cfg.BaseEndpoint != nil && *cfg.BaseEndpoint != ""
		o.DisableLogOutputChecksumValidationSkipped = true
	})
}
