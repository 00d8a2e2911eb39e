package common

import (
	"context"
	"fmt"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
)

// contentCacheSize bounds the snapshot contents kept in memory (a diff
// needs two; going back and forth in history reuses them).
const contentCacheSize = 16

// ContentCache keeps the latest snapshot contents by hash, shared by the
// diff and snapshot viewers.
type ContentCache struct {
	order []string
	data  map[string][]byte
}

// Get returns the content of hash if it is kept.
func (c *ContentCache) Get(hash string) ([]byte, bool) {
	b, ok := c.data[hash]
	return b, ok
}

// Put keeps b as the content of hash, dropping the oldest beyond the bound.
func (c *ContentCache) Put(hash string, b []byte) {
	if c.data == nil {
		c.data = map[string][]byte{}
	}
	if _, ok := c.data[hash]; ok {
		return
	}
	c.data[hash] = b
	c.order = append(c.order, hash)
	if len(c.order) > contentCacheSize {
		delete(c.data, c.order[0])
		c.order = c.order[1:]
	}
}

// FetchSnapshot fetches one snapshot's record and content within the
// request timeout.
func FetchSnapshot(ctx context.Context, c client.Client, tenant, device, hash string) (api.SnapshotRecord, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	rec, content, err := c.Snapshot(ctx, tenant, device, hash)
	if err != nil {
		return rec, nil, fmt.Errorf("snapshot %s of %s/%s: %w", ShortHash(hash), tenant, device, err)
	}
	return rec, content, nil
}
