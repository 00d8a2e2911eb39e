package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/store"
)

// queryTimeout bounds one store read of a query.
const queryTimeout = 10 * time.Second

// chunkHeadroom is left free in each chunk of a large reply for the headers
// and protocol line, which count against max_payload.
const chunkHeadroom = 4 << 10

func (s *Service) handleTenants(req micro.Request) {
	if !s.allowReply(req.Subject(), "", req.Reply()) {
		return
	}
	s.respond(req, api.TenantsReply{Tenants: s.cfg.Stack.Tenants()})
}

func (s *Service) handleDevices(req micro.Request) {
	tenant := lastToken(req.Subject())
	if !s.allowReply(req.Subject(), tenant, req.Reply()) {
		return
	}
	if err := api.CheckID("tenant ID", tenant); err != nil {
		s.refuse(req, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	devs, err := s.cfg.Stack.Devices(ctx, tenant)
	if err != nil {
		s.refuse(req, err)
		return
	}
	s.respond(req, api.DevicesReply{Devices: devs})
}

func (s *Service) handleList(req micro.Request) {
	tenant := lastToken(req.Subject())
	if !s.allowReply(req.Subject(), tenant, req.Reply()) {
		return
	}
	var body api.ListRequest
	if err := s.decodeDeviceRequest(tenant, req.Data(), &body, &body.DeviceID); err != nil {
		s.refuse(req, err)
		return
	}
	if body.Limit < 0 {
		s.refuse(req, api.Errorf(api.KindBadRequest, "limit must not be negative"))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	recs, more, err := s.cfg.Stack.Store.History(ctx, tenant, body.DeviceID, body.Limit, body.Before)
	if err != nil {
		s.refuse(req, err)
		return
	}
	if recs == nil {
		recs = []api.SnapshotRecord{}
	}
	s.respond(req, api.ListReply{Snapshots: recs, More: more})
}

// handleGet returns a snapshot with its content. As an extension, the
// sha256_hash field may also be "latest" or a unique prefix of 7 or more
// hex digits, as on the command line.
func (s *Service) handleGet(req micro.Request) {
	tenant := lastToken(req.Subject())
	if !s.allowReply(req.Subject(), tenant, req.Reply()) {
		return
	}
	var body api.GetRequest
	if err := s.decodeDeviceRequest(tenant, req.Data(), &body, &body.DeviceID); err != nil {
		s.refuse(req, err)
		return
	}
	if body.SHA256 == "" {
		s.refuse(req, api.Errorf(api.KindBadRequest, "sha256_hash is required: a hash, a prefix of %d or more hex digits, a snapshot ID, or latest", store.MinPrefix))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	rec, err := s.cfg.Stack.Store.Find(ctx, tenant, body.DeviceID, body.SHA256)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = api.Errorf(api.KindNotFound, "no snapshot %s of %s/%s", body.SHA256, tenant, body.DeviceID)
		}
		s.refuse(req, err)
		return
	}
	content, err := s.cfg.Stack.Store.Content(ctx, rec.SHA256)
	if err != nil {
		s.refuse(req, api.Wrap(api.KindStorage, err, "read snapshot content"))
		return
	}
	s.respond(req, api.GetReply{SnapshotRecord: rec, Content: string(content)})
}

// decodeDeviceRequest reads a query about one device of tenant and checks
// that the device is the tenant's. A device of another tenant is "not
// found", exactly like one that does not exist.
func (s *Service) decodeDeviceRequest(tenant string, data []byte, v any, device *string) error {
	if err := api.CheckID("tenant ID", tenant); err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return badJSON(`{"device_id": "...", ...}`, err)
	}
	if *device == "" {
		return api.Errorf(api.KindBadRequest, "device_id is required")
	}
	if err := api.CheckID("device ID", *device); err != nil {
		return err
	}
	if _, ok := s.cfg.Stack.Inventory().Device(tenant, *device); !ok {
		return api.Errorf(api.KindNotFound, "device %s not found in tenant %s", *device, tenant)
	}
	return nil
}

// refuse answers a query with an ErrorReply in the micro error form.
func (s *Service) refuse(req micro.Request, err error) {
	kind := api.KindOf(err)
	s.log.Debug("request refused", "subject", req.Subject(), "kind", kind, "err", err)
	if req.Reply() == "" {
		return
	}
	body, _ := marshal(api.ErrorReply{Error: capText(err.Error()), ErrorKind: kind})
	if err := req.Error(errorCode(kind), oneLine(err.Error()), body); err != nil {
		s.log.Warn("send error reply", "subject", req.Subject(), "err", err)
	}
}

// respond sends v as one message when it fits in the server's max_payload,
// else in chunks (see api.HeaderChunk for the format).
func (s *Service) respond(req micro.Request, v any) {
	if req.Reply() == "" {
		return
	}
	body, err := marshal(v)
	if err != nil {
		s.refuse(req, api.Wrap(api.KindInternal, err, "encode reply"))
		return
	}
	limit := int(s.cfg.Conn.MaxPayload()) - chunkHeadroom
	if len(body) <= limit {
		err = req.Respond(body)
	} else {
		err = s.sendChunks(req.Reply(), body, limit)
	}
	if err != nil {
		s.log.Warn("send reply", "subject", req.Subject(), "bytes", len(body), "err", err)
	}
}

func (s *Service) sendChunks(inbox string, body []byte, size int) error {
	n := (len(body) + size - 1) / size
	for i := range n {
		part := body[i*size : min((i+1)*size, len(body))]
		msg := &nats.Msg{Subject: inbox, Data: part,
			Header: nats.Header{api.HeaderChunk: {strconv.Itoa(i+1) + "/" + strconv.Itoa(n)}}}
		if err := s.cfg.Conn.PublishMsg(msg); err != nil {
			return fmt.Errorf("chunk %d/%d: %w", i+1, n, err)
		}
	}
	sum := sha256.Sum256(body)
	return s.cfg.Conn.PublishMsg(&nats.Msg{Subject: inbox, Header: nats.Header{
		api.HeaderEvent:  {api.EventFinal},
		api.HeaderChunks: {strconv.Itoa(n)},
		api.HeaderSHA256: {hex.EncodeToString(sum[:])},
	}})
}
