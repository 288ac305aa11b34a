package forward

import (
	"compress/gzip"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// FirehoseHandler serves Amazon Data Firehose HTTP-endpoint deliveries
// (POST, JSON {requestId, timestamp, records: [{data: base64}]}, optionally
// gzip content encoding). The X-Amz-Firehose-Access-Key header must equal the
// configured key (compared in constant time). Answers are Firehose's JSON
// {requestId, timestamp, errorMessage}: 200 once Kafka acknowledged the
// batch, 401 for a wrong key, 400 for a body that is not a delivery, 500 when
// Kafka did not take the batch (Firehose retries, then backs the data up to
// S3). Bad records inside a good delivery are dropped and counted.
type FirehoseHandler struct {
	f       *Forwarder
	keyHash [32]byte
	log     *slog.Logger
	// MaxBody bounds a request body (default 64 MiB; Firehose sends at most
	// its buffer size, up to 64 MiB).
	MaxBody int64
}

// NewFirehoseHandler returns the endpoint; accessKey must not be empty.
func NewFirehoseHandler(f *Forwarder, accessKey string, log *slog.Logger) (*FirehoseHandler, error) {
	if accessKey == "" {
		return nil, errors.New("forward: the Firehose endpoint needs an access key")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &FirehoseHandler{f: f, keyHash: sha256.Sum256([]byte(accessKey)), log: log, MaxBody: 64 << 20}, nil
}

// firehoseRequest is a Firehose HTTP-endpoint delivery.
type firehoseRequest struct {
	RequestID string `json:"requestId"`
	Timestamp int64  `json:"timestamp"`
	Records   []struct {
		Data []byte `json:"data"` // base64 in JSON
	} `json:"records"`
}

// firehoseResponse is the answer Firehose expects.
type firehoseResponse struct {
	RequestID    string `json:"requestId"`
	Timestamp    int64  `json:"timestamp"`
	ErrorMessage string `json:"errorMessage,omitempty"`
}

// ServeHTTP implements http.Handler.
func (h *FirehoseHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := r.Header.Get("X-Amz-Firehose-Request-Id")
	answer := func(status int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(firehoseResponse{RequestID: reqID, Timestamp: time.Now().UnixMilli(), ErrorMessage: msg})
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		answer(http.StatusMethodNotAllowed, "POST only")
		return
	}
	got := sha256.Sum256([]byte(r.Header.Get("X-Amz-Firehose-Access-Key")))
	if subtle.ConstantTimeCompare(got[:], h.keyHash[:]) != 1 {
		answer(http.StatusUnauthorized, "invalid access key")
		return
	}
	body := io.Reader(http.MaxBytesReader(w, r.Body, h.MaxBody))
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(body)
		if err != nil {
			answer(http.StatusBadRequest, "bad gzip body: "+err.Error())
			return
		}
		body = io.LimitReader(zr, h.MaxBody)
	}
	var req firehoseRequest
	if err := json.NewDecoder(body).Decode(&req); err != nil {
		answer(http.StatusBadRequest, "not a Firehose delivery: "+err.Error())
		return
	}
	if reqID == "" {
		reqID = req.RequestID
	}
	payloads := make([][]byte, 0, len(req.Records))
	for _, rec := range req.Records {
		payloads = append(payloads, rec.Data)
	}
	bad, err := h.f.Forward(r.Context(), payloads)
	for _, b := range bad {
		h.log.Warn("firehose: record dropped", "request_id", reqID, "err", b.Error())
	}
	if err != nil {
		h.log.Error("firehose: delivery not forwarded", "request_id", reqID, "records", len(payloads), "err", err)
		answer(http.StatusInternalServerError, fmt.Sprintf("not forwarded to Kafka: %v", err))
		return
	}
	answer(http.StatusOK, "")
}
