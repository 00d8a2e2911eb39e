package jetstream

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/cfgsnap/cfgsnap/backend/jsretry"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// digest is how the object store writes an object's sha256.
func digest(sum string) (string, bool) {
	b, err := hex.DecodeString(sum)
	if err != nil || len(b) != sha256.Size {
		return "", false
	}
	return "SHA-256=" + base64.URLEncoding.EncodeToString(b), true
}

// putContent stores content under its hash unless a complete copy is there
// already. A copy whose digest is not the name's (a damaged or foreign
// object) is replaced.
func (s *Store) putContent(ctx context.Context, sum string, content []byte) error {
	want, _ := digest(sum)
	var info *jetstream.ObjectInfo
	err := jsretry.Do(ctx, func(ctx context.Context) error {
		var err error
		info, err = s.obs.GetInfo(ctx, sum)
		return err
	})
	switch {
	case err == nil && info.Digest == want && info.Size == uint64(len(content)):
		return nil
	case err != nil && !errors.Is(err, jetstream.ErrObjectNotFound):
		return fmt.Errorf("look up content %s: %w", short(sum), err)
	}
	err = jsretry.Do(ctx, func(ctx context.Context) error {
		_, err := s.obs.PutBytes(ctx, sum, content)
		return err
	})
	if err != nil {
		return fmt.Errorf("store content %s: %w", short(sum), err)
	}
	return nil
}

// Content implements store.Store. The object store checks the object's
// digest as it reads; the hash is checked again against the name, so an
// object stored under the wrong name is reported rather than served.
func (s *Store) Content(ctx context.Context, sum string) ([]byte, error) {
	sum, ok := normHash(sum)
	if !ok {
		return nil, api.Errorf(api.KindBadRequest, "content %q: not a sha256 in hex", short(sum))
	}
	var data []byte
	err := jsretry.Do(ctx, func(ctx context.Context) error {
		var err error
		data, err = s.obs.GetBytes(ctx, sum)
		return err
	})
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("content %s: %w", short(sum), store.ErrNotFound)
	}
	if errors.Is(err, jetstream.ErrDigestMismatch) {
		return nil, api.Wrap(api.KindStorage, err, fmt.Sprintf("content %s is corrupt", short(sum)))
	}
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, "read content "+short(sum))
	}
	if got := store.Sum(data); got != sum {
		return nil, api.Errorf(api.KindStorage, "content %s is corrupt: its sha256 is %s", short(sum), short(got))
	}
	return data, nil
}

// prepare checks rec and content and fills in what Record assigns before
// it looks at the device's history; the rules are the SQLite store's.
func prepare(rec api.SnapshotRecord, content []byte) (api.SnapshotRecord, error) {
	if err := api.CheckID("tenant", rec.TenantID); err != nil {
		return rec, err
	}
	if err := api.CheckID("device", rec.DeviceID); err != nil {
		return rec, err
	}
	sum := store.Sum(content)
	if rec.SHA256 != "" && strings.ToLower(rec.SHA256) != sum {
		return rec, api.Errorf(api.KindBadRequest, "record snapshot of %s/%s: sha256 %s is not the content's (%s)",
			rec.TenantID, rec.DeviceID, short(rec.SHA256), short(sum))
	}
	rec.SHA256 = sum
	if rec.SnapshotID != "" && !api.IsID(rec.SnapshotID) {
		return rec, api.Errorf(api.KindBadRequest, "record snapshot of %s/%s: snapshot id %q is not a ULID",
			rec.TenantID, rec.DeviceID, rec.SnapshotID)
	}
	if rec.NormalizationVersion == 0 {
		rec.NormalizationVersion = api.NormalizationVersion
	}
	if rec.CollectedAt.IsZero() {
		rec.CollectedAt = time.Now()
	}
	if y := rec.CollectedAt.Year(); y < 1970 || y > 2261 {
		return rec, api.Errorf(api.KindBadRequest, "collected_at %s is out of range", rec.CollectedAt.Format(time.RFC3339))
	}
	rec.CollectedAt = rec.CollectedAt.UTC()
	rec.SizeBytes = int64(len(content))
	return rec, nil
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func normHash(h string) (string, bool) {
	h = strings.ToLower(h)
	return h, len(h) == sha256.Size*2 && isHex(h)
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
