package jetstream

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/cfgsnap/cfgsnap/backend/jsretry"

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
		return fmt.Errorf("look up content %s: %w", store.Short(sum), err)
	}
	err = jsretry.Do(ctx, func(ctx context.Context) error {
		_, err := s.obs.PutBytes(ctx, sum, content)
		return err
	})
	if err != nil {
		return fmt.Errorf("store content %s: %w", store.Short(sum), err)
	}
	return nil
}

// Content implements store.Store. The object store checks the object's
// digest as it reads; the hash is checked again against the name, so an
// object stored under the wrong name is reported rather than served.
func (s *Store) Content(ctx context.Context, sum string) ([]byte, error) {
	sum, ok := store.NormHash(sum)
	if !ok {
		return nil, api.Errorf(api.KindBadRequest, "content %q: not a sha256 in hex", store.Short(sum))
	}
	var data []byte
	err := jsretry.Do(ctx, func(ctx context.Context) error {
		var err error
		data, err = s.obs.GetBytes(ctx, sum)
		return err
	})
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("content %s: %w", store.Short(sum), store.ErrNotFound)
	}
	if errors.Is(err, jetstream.ErrDigestMismatch) {
		return nil, api.Wrap(api.KindStorage, err, fmt.Sprintf("content %s is corrupt", store.Short(sum)))
	}
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, "read content "+store.Short(sum))
	}
	if got := store.Sum(data); got != sum {
		return nil, api.Errorf(api.KindStorage, "content %s is corrupt: its sha256 is %s", store.Short(sum), store.Short(got))
	}
	return data, nil
}
