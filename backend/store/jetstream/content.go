package jetstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/cfgsnap/cfgsnap/backend/jsretry"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/seal"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// The metadata of a sealed content object. Objects written before sealing
// have none of it: they hold the content itself, whose sha256 is their name.
const (
	metaCodec = "cfgsnap-codec" // store.CodecSealed
	metaSize  = "cfgsnap-size"  // length of the content in clear
	metaKey   = "cfgsnap-key"   // id of the key it is sealed under
)

// putContent stores content sealed under its hash unless a sealed copy is
// there already. A copy in clear (written by an older cfgsnap) is replaced
// by a sealed one now that the content is at hand.
func (s *Store) putContent(ctx context.Context, sum string, content []byte) error {
	var info *jetstream.ObjectInfo
	err := jsretry.Do(ctx, func(ctx context.Context) error {
		var err error
		info, err = s.obs.GetInfo(ctx, sum)
		return err
	})
	switch {
	case err == nil && info.Metadata[metaCodec] == store.CodecSealed:
		return nil
	case err != nil && !errors.Is(err, jetstream.ErrObjectNotFound):
		return fmt.Errorf("look up content %s: %w", store.Short(sum), err)
	}
	blob, err := s.keys.SealContent(sum, content)
	if err != nil {
		return err
	}
	return s.putSealed(ctx, sum, int64(len(content)), blob)
}

func (s *Store) putSealed(ctx context.Context, sum string, size int64, blob []byte) error {
	id, _ := seal.KeyID(blob)
	meta := jetstream.ObjectMeta{Name: sum, Metadata: map[string]string{
		metaCodec: store.CodecSealed, metaSize: strconv.FormatInt(size, 10), metaKey: id}}
	err := jsretry.Do(ctx, func(ctx context.Context) error {
		_, err := s.obs.Put(ctx, meta, bytes.NewReader(blob))
		return err
	})
	if err != nil {
		return fmt.Errorf("store content %s: %w", store.Short(sum), err)
	}
	return nil
}

// Content implements store.Store. The object store checks the object's
// digest as it reads; a sealed object opens only under its own hash, and
// one in clear is checked against the name, so an object stored under the
// wrong name is reported rather than served.
func (s *Store) Content(ctx context.Context, sum string) ([]byte, error) {
	sum, ok := store.NormHash(sum)
	if !ok {
		return nil, api.Errorf(api.KindBadRequest, "content %q: not a sha256 in hex", store.Short(sum))
	}
	data, info, err := s.get(ctx, sum)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("content %s: %w", store.Short(sum), store.ErrNotFound)
	}
	if errors.Is(err, jetstream.ErrDigestMismatch) {
		return nil, api.Wrap(api.KindStorage, err, fmt.Sprintf("content %s is corrupt", store.Short(sum)))
	}
	if err != nil {
		return nil, api.Wrap(api.KindStorage, err, "read content "+store.Short(sum))
	}
	return s.unpack(sum, info, data)
}

// get reads an object and the metadata it was read with.
func (s *Store) get(ctx context.Context, sum string) ([]byte, *jetstream.ObjectInfo, error) {
	var data []byte
	var info *jetstream.ObjectInfo
	err := jsretry.Do(ctx, func(ctx context.Context) error {
		res, err := s.obs.Get(ctx, sum)
		if err != nil {
			return err
		}
		defer res.Close()
		if info, err = res.Info(); err != nil {
			return err
		}
		data, err = io.ReadAll(res)
		return err
	})
	return data, info, err
}

func (s *Store) unpack(sum string, info *jetstream.ObjectInfo, data []byte) ([]byte, error) {
	if codec := info.Metadata[metaCodec]; codec != "" {
		if codec != store.CodecSealed {
			return nil, api.Errorf(api.KindStorage, "content %s: unknown codec %q (written by a newer cfgsnap?)", store.Short(sum), codec)
		}
		size, err := strconv.ParseInt(info.Metadata[metaSize], 10, 64)
		if err != nil {
			return nil, api.Errorf(api.KindStorage, "content %s is corrupt: size %q", store.Short(sum), info.Metadata[metaSize])
		}
		return s.keys.OpenContent(sum, size, data)
	}
	if got := store.Sum(data); got != sum {
		return nil, api.Errorf(api.KindStorage, "content %s is corrupt: its sha256 is %s", store.Short(sum), store.Short(got))
	}
	return data, nil
}

// SealAll seals every content object stored in clear by an older cfgsnap
// and re-seals under the current key what the old keys of the store's
// Keys sealed. One object at a time, each replaced whole by the object
// store; running it again does nothing more. Other workers may record
// meanwhile: what they write is sealed already.
func (s *Store) SealAll(ctx context.Context) (store.SealStats, error) {
	var st store.SealStats
	var infos []*jetstream.ObjectInfo
	err := jsretry.Do(ctx, func(ctx context.Context) error {
		var err error
		infos, err = s.obs.List(ctx)
		return err
	})
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return st, nil
	}
	if err != nil {
		return st, api.Wrap(api.KindStorage, err, "seal contents: list")
	}
	for _, info := range infos {
		sum, ok := store.NormHash(info.Name)
		if !ok || info.Deleted {
			continue
		}
		st.Total++
		act, err := s.keys.Action(info.Metadata[metaCodec], info.Metadata[metaKey])
		if err != nil {
			return st, err
		}
		switch act {
		case store.SealForeign:
			st.Foreign++
			continue
		case store.SealKeep:
			continue
		}
		data, cur, err := s.get(ctx, sum)
		if err != nil {
			return st, api.Wrap(api.KindStorage, err, "seal content "+store.Short(sum))
		}
		plain, err := s.unpack(sum, cur, data)
		if err != nil {
			return st, err
		}
		blob, err := s.keys.SealContent(sum, plain)
		if err != nil {
			return st, err
		}
		if err := s.putSealed(ctx, sum, int64(len(plain)), blob); err != nil {
			return st, api.Wrap(api.KindStorage, err, "seal contents")
		}
		if act == store.SealRekey {
			st.Rekeyed++
		} else {
			st.Sealed++
		}
	}
	return st, nil
}
