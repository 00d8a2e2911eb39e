// Package cluster assembles what `cfgsnap serve --store jetstream` keeps on
// a NATS cluster instead of the data directory: the snapshot store
// (store/jetstream), the per-device locks (lock/kv), the state of the
// scheduled backups (schedule.KVState) and the devices' SSH host keys
// (hostkey.KV), all named after one prefix and replicated alike. It is the scale-out counterpart of package local.
package cluster

import (
	"context"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/hostkey"
	lockkv "github.com/cfgsnap/cfgsnap/backend/lock/kv"
	"github.com/cfgsnap/cfgsnap/backend/schedule"
	"github.com/cfgsnap/cfgsnap/backend/store"
	jsstore "github.com/cfgsnap/cfgsnap/backend/store/jetstream"
)

// Options say how the parts are kept.
type Options struct {
	// Prefix is the subject prefix of the service; it also names the
	// stream and buckets ("" is api.DefaultPrefix): CFGSNAP_HISTORY,
	// cfgsnap_content, cfgsnap_errors, cfgsnap_locks, cfgsnap_schedule.
	Prefix string
	// Replicas of every stream and bucket: 3 on a three-node cluster, so
	// that losing a node loses no snapshot, lock or claim. 0 is 1.
	Replicas int
	// HistoryPerDevice is how many snapshot records are kept per device;
	// 0 keeps all.
	HistoryPerDevice int64
	// Keys seal snapshot content (required); every worker needs the same
	// key file (--content-key-file).
	Keys *store.Keys
}

// Parts are the shared state of every worker of a cluster.
type Parts struct {
	Store    *jsstore.Store
	Locker   *lockkv.Locker
	Schedule *schedule.KVState
	// HostKeys is the one record of device host keys every worker checks.
	HostKeys *hostkey.KV
	js       jetstream.JetStream
	names    []string
}

// Names returns the stream and bucket names the parts use for prefix, for
// NATS permissions and `nats stream ls`.
func Names(prefix string) (history, content, errors, locks, sched string) {
	history, content, errors = jsstore.Names(prefix)
	base := strings.TrimSuffix(content, "_content")
	return history, content, errors, base + "_locks", base + "_schedule"
}

// HostKeysBucket is the bucket of the devices' host keys for prefix
// (cfgsnap_hostkeys by default), for serve and `hostkey forget`.
func HostKeysBucket(prefix string) string {
	if prefix == "" {
		prefix = api.DefaultPrefix
	}
	_, content, _ := jsstore.Names(prefix)
	return strings.TrimSuffix(content, "_content") + "_hostkeys"
}

// Open creates (or updates) the stream and buckets and returns the parts.
// Every worker calls it at start; the calls agree, whoever comes first.
func Open(ctx context.Context, js jetstream.JetStream, opts Options) (*Parts, error) {
	if opts.Prefix == "" {
		opts.Prefix = api.DefaultPrefix
	}
	history, content, errs, locks, sched := Names(opts.Prefix)
	st, err := jsstore.Open(ctx, js, jsstore.Options{Prefix: opts.Prefix, Replicas: opts.Replicas, HistoryPerDevice: opts.HistoryPerDevice, Keys: opts.Keys})
	if err != nil {
		return nil, err
	}
	lk, err := lockkv.New(ctx, js, lockkv.Options{Bucket: locks, Replicas: opts.Replicas})
	if err != nil {
		return nil, err
	}
	ss, err := schedule.OpenKV(ctx, js, schedule.KVOptions{Bucket: sched, Replicas: opts.Replicas})
	if err != nil {
		return nil, err
	}
	hk, err := hostkey.OpenKV(ctx, js, hostkey.KVOptions{Bucket: HostKeysBucket(opts.Prefix), Replicas: opts.Replicas})
	if err != nil {
		return nil, err
	}
	return &Parts{Store: st, Locker: lk, Schedule: ss, HostKeys: hk, js: js,
		names: []string{history, "OBJ_" + content, "KV_" + errs, "KV_" + locks, "KV_" + sched, "KV_" + hk.Bucket()}}, nil
}

// Check reports whether every stream of the parts has a leader and enough
// replicas to write: the health check of a worker.
func (p *Parts) Check(ctx context.Context) error {
	for _, name := range p.names {
		s, err := p.js.Stream(ctx, name)
		if err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
		info := s.CachedInfo()
		if info.Cluster != nil && info.Cluster.Leader == "" {
			return fmt.Errorf("stream %s has no leader", name)
		}
		if info.Cluster != nil && info.Config.Replicas > 1 {
			current := 1 // the leader
			for _, r := range info.Cluster.Replicas {
				if r.Current {
					current++
				}
			}
			if current <= info.Config.Replicas/2 {
				return fmt.Errorf("stream %s has %d of %d replicas current: no quorum", name, current, info.Config.Replicas)
			}
		}
	}
	return nil
}
