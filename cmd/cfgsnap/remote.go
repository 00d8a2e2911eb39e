package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
)

// dialTimeout bounds connecting to NATS; an unreachable server is exit 4
// after at most this long.
const dialTimeout = 5 * time.Second

// natsOptions are the NATS client flags of cli.md.
func (g *globals) natsOptions(name string, log *slog.Logger) client.NATSOptions {
	n := g.nats
	return client.NATSOptions{Creds: expandHome(n.creds), NKeyFile: expandHome(n.nkey), User: n.user, Password: n.password,
		Token: n.token, TLSCA: expandHome(n.tlsCA), TLSCert: expandHome(n.tlsCert), TLSKey: expandHome(n.tlsKey),
		InboxPrefix: n.inboxPrefix, Name: name, Logger: log}
}

// checkPrefix refuses a subject prefix that would shift or widen subjects.
func checkPrefix(p string) error {
	for _, tok := range strings.Split(p, ".") {
		if !api.ValidID(tok) {
			return usageErr("--subject-prefix %q: use dot-separated tokens of letters, digits, '_' or '-'", p)
		}
	}
	return nil
}

// openRemote connects to the backup service's NATS. The connection's own
// errors go to the log file, never to the terminal.
func (g *globals) openRemote(ctx context.Context) (client.Client, error) {
	if err := checkPrefix(g.nats.prefix); err != nil {
		return nil, err
	}
	var closer io.Closer = io.NopCloser(nil)
	log, c, err := g.logger()
	if err != nil {
		log = slog.New(slog.DiscardHandler) // a missing log dir must not stop a backup
	} else {
		closer = c
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	nc, err := g.dialService(dctx, log)
	if err != nil {
		closer.Close()
		return nil, classifyClientErr(err)
	}
	return &remoteClient{Remote: client.NewRemote(nc, g.nats.prefix, client.RemoteOptions{StallTimeout: g.nats.stallTimeout}), log: closer}, nil
}

// remoteClient closes the log file with the connection.
type remoteClient struct {
	*client.Remote
	log io.Closer
}

func (r *remoteClient) Close() error {
	err := r.Remote.Close()
	r.log.Close()
	return err
}
