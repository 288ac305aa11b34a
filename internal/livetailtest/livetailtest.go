// Package livetailtest is a local CloudWatch Logs Live Tail endpoint for
// tests (moto lacks Live Tail's event stream): an HTTP/2 TLS server that
// answers StartLiveTail with frames of the AWS event-stream wire format,
// encoded here from the format's documentation.
package livetailtest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// Frame encodes one event-stream message: a prelude (total length, headers
// length, CRC32 of those 8 bytes), headers (name length, name, type 7 =
// string, value length, value), the payload and a CRC32 of everything
// before it; big-endian throughout.
func Frame(headers [][2]string, payload []byte) []byte {
	var hb bytes.Buffer
	for _, h := range headers {
		hb.WriteByte(byte(len(h[0])))
		hb.WriteString(h[0])
		hb.WriteByte(7)
		binary.Write(&hb, binary.BigEndian, uint16(len(h[1])))
		hb.WriteString(h[1])
	}
	total := 12 + hb.Len() + len(payload) + 4
	var m bytes.Buffer
	binary.Write(&m, binary.BigEndian, uint32(total))
	binary.Write(&m, binary.BigEndian, uint32(hb.Len()))
	binary.Write(&m, binary.BigEndian, crc32.ChecksumIEEE(m.Bytes()[:8]))
	m.Write(hb.Bytes())
	m.Write(payload)
	binary.Write(&m, binary.BigEndian, crc32.ChecksumIEEE(m.Bytes()))
	return m.Bytes()
}

// Event encodes an event of type typ with v as its JSON payload.
func Event(typ string, v any) []byte {
	b, _ := json.Marshal(v)
	return Frame([][2]string{{":message-type", "event"}, {":event-type", typ}, {":content-type", "application/json"}}, b)
}

// Exception encodes a modeled exception such as SessionTimeoutException.
func Exception(typ, msg string) []byte {
	b, _ := json.Marshal(map[string]string{"message": msg})
	return Frame([][2]string{{":message-type", "exception"}, {":exception-type", typ}, {":content-type", "application/json"}}, b)
}

// Update encodes a sessionUpdate carrying msgs of group's stream.
func Update(group, stream string, sampled bool, msgs ...string) []byte {
	res := []map[string]any{}
	for _, m := range msgs {
		res = append(res, map[string]any{"logStreamName": stream, "logGroupIdentifier": group, "message": m,
			"timestamp": 1700000000000, "ingestionTime": 1700000001000})
	}
	return Event("sessionUpdate", map[string]any{"sessionMetadata": map[string]any{"sampled": sampled}, "sessionResults": res})
}

// Server is a running endpoint.
type Server struct {
	*httptest.Server
	// CAFile is a PEM file of the server's certificate (for AWS_CA_BUNDLE).
	CAFile string
	// Sessions counts StartLiveTail calls; HTTP2 counts those over HTTP/2.
	Sessions, HTTP2 atomic.Int32
}

// Start serves StartLiveTail: each session sends the initial response and
// a sessionStart, then calls session(n, send) (n from 1); the stream ends
// when it returns. The server stops with the test.
func Start(t testing.TB, session func(n int, send func([]byte), r *http.Request)) *Server {
	s := &Server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".StartLiveTail") {
			http.Error(w, "unexpected "+r.Header.Get("X-Amz-Target"), http.StatusBadRequest)
			return
		}
		if r.ProtoMajor == 2 {
			s.HTTP2.Add(1)
		}
		n := int(s.Sessions.Add(1))
		w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
		w.WriteHeader(http.StatusOK)
		fl := w.(http.Flusher)
		send := func(b []byte) { w.Write(b); fl.Flush() }
		// awsJson event streams open with the operation's initial response.
		send(Event("initial-response", map[string]any{}))
		send(Event("sessionStart", map[string]any{"requestId": "r", "sessionId": "s", "logGroupIdentifiers": []string{}}))
		session(n, send, r)
	}))
	s.EnableHTTP2 = true
	s.StartTLS()
	t.Cleanup(s.Close)
	s.CAFile = filepath.Join(t.TempDir(), "livetail-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	if err := os.WriteFile(s.CAFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}
