package main

import (
	"context"

	"github.com/cfgsnap/cfgsnap/backend/client"
)

func (g *globals) openRemote(ctx context.Context) (client.Client, error) {
	return nil, usageErr("remote mode (--nats) is not built yet: use --direct with --inventory")
}
