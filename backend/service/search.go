package service

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/search"
)

// searchTimeout bounds one search or changes request, the first of which
// reads every latest configuration from the store.
const searchTimeout = 60 * time.Second

// fleetEngine is the service's search engine, made on first use and shared
// by every tenant's requests: each request is confined to its subject's
// tenant by the scope, never by the index.
type fleetEngine struct {
	once sync.Once
	e    *search.Engine
}

func (s *Service) engine() *search.Engine {
	s.fleet.once.Do(func() { s.fleet.e = search.New(s.cfg.Stack.Store) })
	return s.fleet.e
}

// warmSearch builds the search index in the background at start, so that
// the first search over NATS does not pay for reading every latest
// configuration (seconds at 10,000 devices). Shutdown cancels it and waits.
func (s *Service) warmSearch() {
	defer s.workers.Done()
	start := time.Now()
	e := s.engine()
	if err := e.Warm(s.runCtx); err != nil {
		if s.runCtx.Err() == nil {
			// Not fatal: the first search tries again and reports.
			s.log.Warn("search index warm-up failed", "err", err)
		}
		return
	}
	st := e.Stats()
	s.log.Info("search index warm", "configurations", st.Configs, "lines", st.Lines, "took", time.Since(start).Round(time.Millisecond))
}

// tenantScope checks a fleet request's tenant (the subject's last token,
// and the body's tenant_id when given) and confines it to that tenant's
// devices in the inventory.
func (s *Service) tenantScope(subject, bodyTenant string) (search.Scope, error) {
	tenant := lastToken(subject)
	if err := api.CheckID("tenant ID", tenant); err != nil {
		return search.Scope{}, err
	}
	if bodyTenant != "" && bodyTenant != tenant {
		return search.Scope{}, api.Errorf(api.KindBadRequest, "tenant_id %q does not match the subject's tenant %s", bodyTenant, tenant)
	}
	return search.InventoryScope(s.cfg.Stack.Inventory(), tenant)
}

// handleSearch answers <prefix>.search.<tenant> (api.SearchRequest).
func (s *Service) handleSearch(req micro.Request) {
	var body api.SearchRequest
	if err := json.Unmarshal(req.Data(), &body); err != nil {
		s.refuse(req, badJSON(`{"pattern": "...", "ignore_case": false, "device": "glob", "secrets": false, "max": 1000}`, err))
		return
	}
	sc, err := s.tenantScope(req.Subject(), body.TenantID)
	if err != nil {
		s.refuse(req, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), searchTimeout)
	defer cancel()
	start := time.Now()
	rep, err := s.engine().Search(ctx, sc, body)
	if err != nil {
		s.refuse(req, err)
		return
	}
	// The pattern is logged by length only: with secrets it may be a
	// guess at one.
	s.log.Debug("search", "tenant", sc.Tenant, "pattern_bytes", len(body.Pattern), "secrets", body.Secrets,
		"matches", len(rep.Matches), "more", rep.More, "took", time.Since(start))
	s.respond(req, rep)
}

// handleChanges answers <prefix>.changes.<tenant> (api.ChangesRequest).
func (s *Service) handleChanges(req micro.Request) {
	var body api.ChangesRequest
	if err := json.Unmarshal(req.Data(), &body); err != nil {
		s.refuse(req, badJSON(`{"since": "2006-01-02T15:04:05Z", "max": 1000}`, err))
		return
	}
	sc, err := s.tenantScope(req.Subject(), body.TenantID)
	if err != nil {
		s.refuse(req, err)
		return
	}
	if body.Since.IsZero() {
		s.refuse(req, api.Errorf(api.KindBadRequest, "since is required (RFC 3339 time)"))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), searchTimeout)
	defer cancel()
	rep, err := s.engine().Changes(ctx, sc, body)
	if err != nil {
		s.refuse(req, err)
		return
	}
	s.respond(req, rep)
}
