package main

import (
	"context"
	"fmt"
	"github.com/cfgsnap/cfgsnap/backend/natsauth"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/local"
	"github.com/cfgsnap/cfgsnap/backend/seal"
	"github.com/cfgsnap/cfgsnap/backend/store"
	jsstore "github.com/cfgsnap/cfgsnap/backend/store/jetstream"
)

func newStoreCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Maintain the snapshot store",
		Args:  cobra.NoArgs,
	}
	var o struct {
		rekeyFrom []string
		store     string
	}
	sealCmd := &cobra.Command{
		Use:   "seal",
		Short: "Seal snapshot content stored in clear, or re-seal it under a new key",
		Long: `Seal every snapshot content that an older cfgsnap stored in clear under the
content key (--content-key-file, default DATA_DIR/content.key, created when
missing). New backups are sealed anyway, and a content stored in clear is
sealed when it is backed up again; this seals the rest now. It is safe to run
beside backups and to run again: what is sealed already is left alone.

Rotating the key: move the old key file aside, then run
  cfgsnap store seal --rekey-from OLD_KEY_FILE
which creates a new content.key and re-seals under it everything the old key
sealed. Keep the old file until it reports nothing left under another key.

With --store jetstream it works on the cluster's object store (the --nats
flags say how to reach it); every worker must then be given the new key.`,
		Example: `  cfgsnap store seal
  mv ~/.local/share/cfgsnap/content.key /safe/content.key.old && cfgsnap store seal --rekey-from /safe/content.key.old
  cfgsnap store seal --store jetstream --nats nats://n1:4222 --content-key-file /etc/cfgsnap/content.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStoreSeal(cmd.Context(), g, o.store, o.rekeyFrom, cmd.OutOrStdout())
		},
	}
	sealCmd.Flags().StringSliceVar(&o.rekeyFrom, "rekey-from", nil, "old content key file(s) whose content is re-sealed under the current key")
	sealCmd.Flags().StringVar(&o.store, "store", "sqlite", "which store: sqlite (the data dir) or jetstream (the NATS cluster of --nats)")
	cmd.AddCommand(sealCmd)
	return cmd
}

// maintainedStore is what both stores offer `store seal` and `prune`.
type maintainedStore interface {
	store.Retainer
	SealAll(ctx context.Context) (store.SealStats, error)
}

// dialJetStream connects to the cluster of --nats (after checking
// --subject-prefix) for the commands that work on its JetStream directly;
// name, with the local holder, tells the server who connects. The caller
// closes nc.
func (g *globals) dialJetStream(ctx context.Context, name string, log *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	if err := checkPrefix(g.nats.prefix); err != nil {
		return nil, nil, err
	}
	opts := g.natsOptions(name+" "+local.Holder(), log)
	n := g.nats
	if n.creds == "" && n.nkey == "" && n.user == "" && n.password == "" && n.token == "" {
		// Maintenance (hostkey forget, store seal, prune) needs JetStream,
		// which client credentials do not reach: on the service's host, its
		// operator uses the service's own seed in the data dir, if it can
		// read it (0600: no one else can).
		seed := filepath.Join(natsauth.Dir(g.dataDir), natsauth.ServiceSeedName)
		if f, err := os.Open(seed); err == nil {
			f.Close()
			opts.NKeyFile = seed
		}
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	nc, err := client.DialNATS(dctx, g.nats.url, opts)
	cancel()
	if err != nil {
		return nil, nil, classifyClientErr(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, &exitError{code: exitFailed, err: fmt.Errorf("jetstream: %w", err)}
	}
	return nc, js, nil
}

// openMaintained opens the store --store names (the data dir's SQLite or
// the cluster's JetStream of --nats) with keys; the caller calls
// closeStore when done. name tells the NATS server who connects.
func openMaintained(ctx context.Context, g *globals, which string, keys *store.Keys, name string) (st maintainedStore, closeStore func(), err error) {
	switch which {
	case "sqlite":
		sq, err := store.OpenSQLite(ctx, g.dataDir, store.WithKeys(keys))
		if err != nil {
			return nil, nil, &exitError{code: exitFailed, err: err}
		}
		return sq, func() { sq.Close() }, nil
	case "jetstream":
		if g.nats.url == "" {
			return nil, nil, usageErr("--store jetstream needs --nats URL")
		}
		nc, js, err := g.dialJetStream(ctx, name, nil)
		if err != nil {
			return nil, nil, err
		}
		st, err := jsstore.Open(ctx, js, jsstore.Options{Prefix: g.nats.prefix, Keys: keys})
		if err != nil {
			nc.Close()
			return nil, nil, &exitError{code: exitFailed, err: err}
		}
		return st, func() { st.Close(); nc.Close() }, nil
	}
	return nil, nil, usageErr("--store %q: use sqlite or jetstream", which)
}

func runStoreSeal(ctx context.Context, g *globals, which string, rekeyFrom []string, out io.Writer) error {
	var old []*seal.Key
	for _, p := range rekeyFrom {
		k, err := seal.Load(expandHome(p))
		if err != nil {
			return usageErr("--rekey-from: %v", err)
		}
		old = append(old, k)
	}
	keys := store.NewKeys(g.keyFile, old...)
	if len(old) > 0 {
		cur, err := keys.Current(true)
		if err != nil {
			return &exitError{code: exitFailed, err: err}
		}
		for _, k := range old {
			if k.ID() == cur.ID() {
				return usageErr("--rekey-from %s is the current key %s: move the old key aside first (see --help)", k.Path(), g.keyFile)
			}
		}
	}
	s, closeStore, err := openMaintained(ctx, g, which, keys, "cfgsnap store seal")
	if err != nil {
		return err
	}
	defer closeStore()
	st, err := s.SealAll(ctx)
	fmt.Fprintf(out, "content key %s: %s\n", g.keyFile, st)
	if err != nil {
		return &exitError{code: exitFailed, err: err}
	}
	if st.Foreign > 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("%d contents are sealed under a key not given: pass it with --rekey-from", st.Foreign)}
	}
	return nil
}
