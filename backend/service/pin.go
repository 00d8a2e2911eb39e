package service

import (
	"context"

	"github.com/nats-io/nats.go/micro"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
)

// handlePin pins or unpins a snapshot (cfgsnap.snapshot.pin.<tenant>,
// issue 9); the reply is the record with its pin fields.
func (s *Service) handlePin(req micro.Request) {
	tenant := lastToken(req.Subject())
	var body api.PinRequest
	if err := s.decodeDeviceRequest(tenant, req.Data(), &body, &body.DeviceID); err != nil {
		s.refuse(req, err)
		return
	}
	if body.Ref == "" {
		s.refuse(req, api.Errorf(api.KindBadRequest, "sha256_hash is required: a hash, a prefix of 7 or more hex digits, or latest"))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	rec, err := client.PinIn(ctx, s.cfg.Stack.Store, tenant, body.DeviceID, body.Ref, body.Pinned, body.Note)
	if err != nil {
		s.refuse(req, err)
		return
	}
	s.log.Info("snapshot pin changed", "tenant", tenant, "device", body.DeviceID, "snapshot", rec.SnapshotID, "pinned", rec.Pinned)
	s.respond(req, rec)
}
