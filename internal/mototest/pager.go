package mototest

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// pagedLists names, per EC2 action, the response element holding the list
// the action pages through.
var pagedLists = map[string]string{
	"DescribeSecurityGroups":      "securityGroupInfo",
	"DescribeSecurityGroupRules":  "securityGroupRuleSet",
	"DescribeNetworkInterfaces":   "networkInterfaceSet",
	"DescribeManagedPrefixLists":  "prefixListSet",
	"GetManagedPrefixListEntries": "entrySet",
	"DescribeFlowLogs":            "flowLogSet",
}

// Pager is an HTTP proxy in front of moto that pages EC2 describe calls the
// way EC2 does (MaxResults items per response and a nextToken), which moto
// does not: it forwards each call without MaxResults and NextToken, and cuts
// moto's complete answer into the requested page. Other calls pass through.
type Pager struct {
	URL    string
	target string
	mu     sync.Mutex
	pages  map[string]int
	// Before, when set, may answer a request itself (return true), for
	// example to throttle it or to make it fail; form is the request's
	// parameters.
	Before func(w http.ResponseWriter, action string, form url.Values) bool
	// Hook, when set, sees every request first and may answer it itself
	// (return true); for S3 calls, whose parameters are in the path.
	Hook func(w http.ResponseWriter, r *http.Request) bool
}

// WriteError answers like EC2 does with an error code and HTTP status.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>cinch-test</RequestID></Response>`, code, msg)
}

// NewPager starts a pager in front of moto's endpoint; it stops with the test.
func NewPager(t testing.TB, target string) *Pager {
	p := &Pager{target: strings.TrimRight(target, "/"), pages: map[string]int{}}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// Pages returns how many responses of action the pager served.
func (p *Pager) Pages(action string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pages[action]
}

// ServeHTTP implements http.Handler.
func (p *Pager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.Hook != nil && p.Hook(w, r) {
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	form, _ := url.ParseQuery(string(body))
	action := form.Get("Action")
	if p.Before != nil && p.Before(w, action, form) {
		return
	}
	list, paged := pagedLists[action]
	max, _ := strconv.Atoi(form.Get("MaxResults"))
	offset, _ := strconv.Atoi(form.Get("NextToken"))
	if paged {
		form.Del("MaxResults")
		form.Del("NextToken")
		body = []byte(form.Encode())
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	req.Header = r.Header.Clone()
	req.Header.Del("Content-Length")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if paged && resp.StatusCode == http.StatusOK && max > 0 {
		if out, err = page(out, list, offset, max); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		p.mu.Lock()
		p.pages[action]++
		p.mu.Unlock()
	}
	for k, v := range resp.Header {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(out)
}

// page keeps items [offset, offset+max) of the top-level <list> element of
// doc and adds a nextToken element when more remain.
func page(doc []byte, list string, offset, max int) ([]byte, error) {
	dec := xml.NewDecoder(bytes.NewReader(doc))
	depth, listDepth := 0, -1
	var listStart, listEnd int64 = -1, -1
	var items [][2]int64
	var itemStart int64
	for {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("pager: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if listDepth < 0 && t.Name.Local == list && depth == 2 {
				listDepth, listStart = depth, dec.InputOffset()
			} else if listDepth > 0 && depth == listDepth+1 && t.Name.Local == "item" {
				itemStart = before
			}
		case xml.EndElement:
			if listDepth > 0 && depth == listDepth+1 && t.Name.Local == "item" {
				items = append(items, [2]int64{itemStart, dec.InputOffset()})
			}
			if listDepth > 0 && depth == listDepth && t.Name.Local == list {
				listEnd = before
				listDepth = -2 // done
			}
			depth--
		}
	}
	if listStart < 0 || listEnd < 0 {
		return doc, nil // empty list element (<list/>) or none: one page
	}
	var b bytes.Buffer
	b.Write(doc[:listStart])
	end := min(offset+max, len(items))
	for _, it := range items[min(offset, len(items)):end] {
		b.Write(doc[it[0]:it[1]])
	}
	b.Write(doc[listEnd:])
	out := b.Bytes()
	if end < len(items) {
		i := bytes.LastIndex(out, []byte("</"))
		out = append(out[:i:i], append([]byte("<nextToken>"+strconv.Itoa(end)+"</nextToken>"), out[i:]...)...)
	}
	return out, nil
}
