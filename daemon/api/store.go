package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/cinch-sg/cinch/internal/atomicfile"
)

// Files of a hub's durable state, in the directory given to Persist.
const (
	// ReviewsFile holds one review decision per line (JSON), newest last.
	ReviewsFile = "reviews.jsonl"
	// VersionFile holds the highest event version the hub may have
	// published.
	VersionFile = "events.version"
)

// versionBlock is how many versions one reservation covers: the hub writes
// the highest version it may publish before it publishes beyond it, so
// versions go on from above every version of an earlier run, even after a
// crash, with one small write per versionBlock events.
const versionBlock = 1 << 16

// maxReviewLine bounds one line of the reviews file (a review holds at most
// maxCommentBytes of comment, and a rule key).
const maxReviewLine = 1 << 20

// hubStore is the durable part of a hub: an append-only log of reviews and
// the version reservation.
type hubStore struct {
	dir      string
	log      *os.File // ReviewsFile, open for appending
	lines    int      // lines in log
	reserved uint64   // highest version that may be published
}

// Persist makes the hub's reviews and versions durable in dir (which must
// exist): the reviews recorded by an earlier run are restored, each later
// review is written and synced to dir/reviews.jsonl before it is published,
// and event versions go on above every version an earlier run published (the
// first version of this run is skipped, so a client resuming from any
// earlier version is sent a snapshot). Call it once, before the hub is used.
// It returns the number of unreadable review lines skipped (a torn last line
// after a crash).
func (h *Hub) Persist(dir string) (skipped int, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.store != nil {
		return 0, errors.New("hub: Persist called twice")
	}
	st := &hubStore{dir: dir}
	if st.reserved, err = readVersion(filepath.Join(dir, VersionFile)); err != nil {
		return 0, err
	}
	reviews, skipped, err := readReviews(filepath.Join(dir, ReviewsFile))
	if err != nil {
		return 0, err
	}
	h.store = st
	h.reviews = reviews
	if err := h.compactLocked(); err != nil {
		return skipped, err
	}
	// A version no event has: every version of an earlier run is below it.
	h.version = max(h.version, st.reserved) + 1
	h.base = h.version
	if err := st.reserve(h.version + versionBlock); err != nil {
		return skipped, err
	}
	return skipped, nil
}

// Close releases the reviews file of a persisted hub.
func (h *Hub) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.store == nil || h.store.log == nil {
		return nil
	}
	err := h.store.log.Close()
	h.store.log = nil
	return err
}

func readVersion(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("hub: %w", err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("hub: %s: not a version number: %w", path, err)
	}
	return v, nil
}

// reserve records that versions up to v may be published. It never lowers
// the number on disk (instances sharing a state directory start above all
// of them).
func (st *hubStore) reserve(v uint64) error {
	path := filepath.Join(st.dir, VersionFile)
	if cur, err := readVersion(path); err == nil && cur > v {
		v = cur
	}
	if err := atomicfile.Write(filepath.Join(st.dir, VersionFile), []byte(strconv.FormatUint(v, 10)+"\n")); err != nil {
		return fmt.Errorf("hub: version: %w", err)
	}
	st.reserved = v
	return nil
}

// readReviews reads the reviews log: the last decision of each rule wins.
func readReviews(path string) (map[string]Review, int, error) {
	out := map[string]Review{}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return out, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("hub: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), maxReviewLine)
	skipped := 0
	for sc.Scan() {
		var r Review
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.RuleKey == "" {
			skipped++
			continue
		}
		out[r.RuleKey] = r
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("hub: %s: %w", path, err)
	}
	return out, skipped, nil
}

// compactLocked rewrites the reviews log with one line per rule and opens
// it for appending. Decisions another instance sharing the directory wrote
// are kept (the later of two decisions on a rule wins). h.mu must be held.
func (h *Hub) compactLocked() error {
	st := h.store
	path := filepath.Join(st.dir, ReviewsFile)
	onDisk, _, err := readReviews(path)
	if err != nil {
		return err
	}
	for k, r := range h.reviews {
		if d, ok := onDisk[k]; !ok || !d.Time.After(r.Time) {
			onDisk[k] = r
		}
	}
	h.reviews = onDisk
	var b []byte
	for _, key := range slices.Sorted(maps.Keys(h.reviews)) {
		line, err := json.Marshal(h.reviews[key])
		if err != nil {
			return fmt.Errorf("hub: reviews: %w", err)
		}
		b = append(append(b, line...), '\n')
	}
	if st.log != nil {
		st.log.Close()
		st.log = nil
	}
	if err := atomicfile.Write(path, b); err != nil {
		return fmt.Errorf("hub: reviews: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("hub: reviews: %w", err)
	}
	st.log, st.lines = f, len(h.reviews)
	return nil
}

// appendReviewLocked writes r to the reviews log and syncs it; the log is
// compacted when it holds more than twice the decisions it needs. h.mu must
// be held.
func (h *Hub) appendReviewLocked(r Review) error {
	st := h.store
	if st.log == nil {
		return errors.New("hub: closed")
	}
	// Another instance sharing the directory may have compacted the file.
	if a, err := st.log.Stat(); err == nil {
		if b, err := os.Stat(filepath.Join(st.dir, ReviewsFile)); err != nil || !os.SameFile(a, b) {
			if err := h.compactLocked(); err != nil {
				return err
			}
		}
	}
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("hub: review: %w", err)
	}
	if _, err := st.log.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("hub: review: %w", err)
	}
	if err := st.log.Sync(); err != nil {
		return fmt.Errorf("hub: review: %w", err)
	}
	st.lines++
	if st.lines > 2*(len(h.reviews)+1)+1024 {
		h.reviews[r.RuleKey] = r
		return h.compactLocked()
	}
	return nil
}
