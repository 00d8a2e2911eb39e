package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/backup"
)

// lockTimeout bounds taking a device's lock in the handler; the lock lives
// in the store, which another process may hold busy for a moment.
const lockTimeout = 5 * time.Second

// Bounds of the free-text fields of a trigger, which are stored with the
// snapshot.
const (
	maxRequestedBy = 256
	maxReason      = 1024
)

// parseTrigger reads a cfgsnap.backup.trigger.<tenant> request. The tenant
// is the subject's: a payload naming another one is refused like an
// unknown device, so it learns nothing about other tenants.
func parseTrigger(tenant string, data []byte) (backup.Request, error) {
	if err := api.CheckID("tenant ID", tenant); err != nil {
		return backup.Request{}, err
	}
	var body api.TriggerRequest
	if err := json.Unmarshal(data, &body); err != nil {
		return backup.Request{}, badJSON(`{"device_id": "..."}`, err)
	}
	if body.DeviceID == "" {
		return backup.Request{}, api.Errorf(api.KindBadRequest, "device_id is required")
	}
	if err := api.CheckID("device ID", body.DeviceID); err != nil {
		return backup.Request{}, err
	}
	if body.TenantID != "" && body.TenantID != tenant {
		return backup.Request{}, api.Errorf(api.KindNotFound, "device %s not found in tenant %s", body.DeviceID, tenant)
	}
	if len(body.RequestedBy) > maxRequestedBy || len(body.Reason) > maxReason {
		return backup.Request{}, api.Errorf(api.KindBadRequest, "requested_by is limited to %d bytes and reason to %d", maxRequestedBy, maxReason)
	}
	return backup.Request{TenantID: tenant, DeviceID: body.DeviceID, RequestedBy: body.RequestedBy,
		Reason: body.Reason, Trigger: api.TriggerManual}, nil
}

// parseCompat reads a seed-compatible config.backup.trigger request, whose
// tenant is only in the payload.
func parseCompat(data []byte) (backup.Request, error) {
	var body api.CompatTriggerRequest
	if err := json.Unmarshal(data, &body); err != nil {
		return backup.Request{}, badJSON(`{"device_id": "...", "tenant_id": "..."}`, err)
	}
	if body.DeviceID == "" || body.TenantID == "" {
		return backup.Request{}, api.Errorf(api.KindBadRequest, "device_id and tenant_id are required")
	}
	if err := api.CheckID("tenant ID", body.TenantID); err != nil {
		return backup.Request{}, err
	}
	if err := api.CheckID("device ID", body.DeviceID); err != nil {
		return backup.Request{}, err
	}
	return backup.Request{TenantID: body.TenantID, DeviceID: body.DeviceID, Trigger: api.TriggerManual}, nil
}

// badJSON explains a request that does not decode, in words for the person
// who typed it (no Go type names).
func badJSON(shape string, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	problem := err.Error()
	switch {
	case errors.As(err, &se):
		problem = fmt.Sprintf("invalid JSON at byte %d: %s", se.Offset, se)
	case errors.As(err, &te) && te.Field != "":
		want := "a string"
		switch te.Type.Kind() {
		case reflect.Int, reflect.Int64, reflect.Int32:
			want = "a whole number"
		case reflect.Bool:
			want = "true or false"
		}
		problem = fmt.Sprintf("%s must be %s, not a JSON %s", te.Field, want, te.Value)
	case errors.As(err, &te):
		problem = "a JSON " + te.Value + " is not an object"
	}
	return api.Errorf(api.KindBadRequest, "the request must be %s: %s", shape, problem)
}

// marshal is json.Marshal without HTML escaping, so that `nats req` shows
// "<" and ">" in error messages as they are.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func (s *Service) handleTrigger(req micro.Request) {
	// A reply that would be refused means no work at all: a trigger with a
	// bad reply subject does nothing.
	if !s.allowReply(req.Subject(), lastToken(req.Subject()), req.Reply()) {
		return
	}
	stream := req.Headers().Get(api.HeaderProgress) == api.HeaderProgressValue
	breq, err := parseTrigger(lastToken(req.Subject()), req.Data())
	if err != nil {
		s.answer(req, stream, &s.triggerStats, api.FailedReply("", "", "", err))
		return
	}
	s.trigger(req, breq, stream, &s.triggerStats)
}

// handleCompat answers like the original poller: one reply, never a stream.
func (s *Service) handleCompat(req micro.Request) {
	breq, err := parseCompat(req.Data())
	if !s.allowReply(req.Subject(), breq.TenantID, req.Reply()) {
		return
	}
	if err != nil {
		s.answer(req, false, &s.compatStats, api.FailedReply("", "", "", err))
		return
	}
	s.trigger(req, breq, false, &s.compatStats)
}

// trigger takes the device's lock and queues the job; it never waits for
// the device. A locked device or a refused request is answered at once.
func (s *Service) trigger(req micro.Request, breq backup.Request, stream bool, c *counters) {
	if s.isClosing() {
		s.answer(req, stream, c, api.FailedReply("", breq.TenantID, breq.DeviceID, errShuttingDown))
		return
	}
	if err := s.cfg.TriggerLimit.Allow(breq.TenantID, "tenant "+breq.TenantID); err != nil {
		s.answer(req, stream, c, api.FailedReply("", breq.TenantID, breq.DeviceID, err))
		return
	}
	t := &task{s: s, counts: c, reply: req.Reply(), stream: stream, tenant: breq.TenantID, device: breq.DeviceID}
	ctx, cancel := context.WithTimeout(context.Background(), lockTimeout)
	defer cancel()
	job, final := s.cfg.Stack.Pipeline.Prepare(ctx, breq, t.progress)
	if final != nil {
		if final.Lock != nil {
			final.Lock.Stage = s.currentStage(final.Lock.JobID, final.Lock.Stage)
		}
		s.log.Info("trigger answered at once", "tenant", breq.TenantID, "device", breq.DeviceID,
			"status", final.Status, "kind", final.ErrorKind)
		s.answer(req, stream, c, *final)
		return
	}
	t.job = job
	s.admit(t)
}

// currentStage is the stage of a job this service runs, which is fresher
// than the one in the lock table (recorded only when the lease is renewed).
func (s *Service) currentStage(jobID string, recorded api.Stage) api.Stage {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.active {
		if t.job.ID() == jobID {
			return t.job.Stage()
		}
	}
	return recorded
}

// admit queues t, or fails it when the queue is full or the service is
// stopping.
func (s *Service) admit(t *task) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		t.abort(errShuttingDown)
		return
	}
	select {
	case s.queue <- t:
		s.active[t] = struct{}{}
		s.jobs.Add(1)
		s.mu.Unlock()
	default:
		s.mu.Unlock()
		t.counts.busy.Add(1)
		t.abort(api.Errorf(api.KindInternal,
			"the backup service is busy: %d backups are already waiting for a worker; try again shortly", s.cfg.QueueDepth))
	}
}

func (s *Service) remove(t *task) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.active[t]; ok {
		delete(s.active, t)
		s.jobs.Done()
	}
}

// answer sends a trigger's only reply from the handler. Failures use the
// micro error form so that `nats micro stats` counts them; the body is the
// trigger reply either way.
func (s *Service) answer(req micro.Request, stream bool, c *counters, r api.TriggerReply) {
	s.count(c, r)
	if req.Reply() == "" {
		return
	}
	r.Error = capText(r.Error)
	body, err := marshal(r)
	if err != nil {
		s.log.Error("encode trigger reply", "err", err)
		return
	}
	var opts []micro.RespondOpt
	if stream {
		opts = append(opts, micro.WithHeaders(micro.Headers{api.HeaderEvent: {api.EventFinal}}))
	}
	if r.Status == api.StatusFailed {
		err = req.Error(errorCode(r.ErrorKind), oneLine(r.Error), body, opts...)
	} else {
		err = req.Respond(body, opts...)
	}
	if err != nil {
		s.log.Warn("send trigger reply", "subject", req.Subject(), "err", err)
	}
}

// task is one admitted job and the requester waiting for it.
type task struct {
	s              *Service
	counts         *counters // of the endpoint that took the trigger
	job            *backup.Job
	reply          string // the requester's inbox; "" when nobody waits
	stream         bool   // the requester asked for progress on its inbox
	tenant, device string

	mu       sync.Mutex // orders progress, heartbeats and the final reply
	last     api.ProgressEvent
	hasLast  bool
	lastSent time.Time
	done     bool
}

// progress is the job's sink: observers always see the event, the
// requester when it asked for a stream.
func (t *task) progress(ev api.ProgressEvent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return
	}
	t.last, t.hasLast = ev, true
	t.send(ev, time.Now())
}

// heartbeat re-sends the current stage when the job has been quiet for
// half a heartbeat period or more.
func (t *task) heartbeat(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done || !t.hasLast || now.Sub(t.lastSent) < t.s.cfg.Heartbeat/2 {
		return
	}
	ev := t.last
	ev.ElapsedMS += now.Sub(ev.At).Milliseconds()
	ev.At = now
	t.send(ev, now)
}

func (t *task) send(ev api.ProgressEvent, now time.Time) {
	data, err := marshal(ev)
	if err != nil {
		return
	}
	t.lastSent = now
	t.publish(t.s.subj.Progress(t.tenant, t.device), api.EventProgress, data)
	if t.stream && t.reply != "" {
		t.publish(t.reply, api.EventProgress, data)
	}
}

func (t *task) publish(subject, event string, data []byte) {
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{api.HeaderEvent: {event}}}
	if err := t.s.cfg.Conn.PublishMsg(msg); err != nil {
		t.s.log.Warn("publish", "subject", subject, "event", event, "err", err)
	}
}

func (t *task) run(ctx context.Context) {
	reply := t.job.Run(ctx)
	if ctx.Err() != nil && reply.Status == api.StatusFailed {
		reply.Error = "the backup service shut down before the backup finished: " + reply.Error
	}
	t.finish(reply)
}

func (t *task) abort(err error) {
	t.finish(t.job.Abort(context.Background(), err))
}

// finish sends the final reply to observers and to the requester; nothing
// about the job is sent after it.
func (t *task) finish(r api.TriggerReply) {
	data, err := marshal(r)
	t.mu.Lock()
	t.done = true
	if err == nil {
		t.publish(t.s.subj.Progress(t.tenant, t.device), api.EventFinal, data)
		if t.reply != "" {
			if t.stream {
				t.publish(t.reply, api.EventFinal, data)
			} else if err := t.s.cfg.Conn.Publish(t.reply, data); err != nil {
				t.s.log.Warn("send trigger reply", "subject", t.reply, "err", err)
			}
		}
	}
	t.mu.Unlock()
	t.s.count(t.counts, r)
	t.s.remove(t)
	t.s.log.Info("backup finished", "tenant", t.tenant, "device", t.device, "job", r.JobID,
		"status", r.Status, "kind", r.ErrorKind, "changed", r.IsChanged(), "duration_ms", r.DurationMS)
}

// snapshotStored publishes snapshot.created after each stored snapshot.
func (s *Service) snapshotStored(rec api.SnapshotRecord) {
	select {
	case <-s.stopped:
		return
	default:
	}
	data, err := marshal(rec)
	if err != nil {
		return
	}
	if err := s.cfg.Conn.Publish(s.subj.SnapshotCreated(rec.TenantID, rec.DeviceID), data); err != nil {
		s.log.Warn("publish snapshot.created", "tenant", rec.TenantID, "device", rec.DeviceID, "err", err)
	}
}

func lastToken(subject string) string {
	return subject[strings.LastIndexByte(subject, '.')+1:]
}

// errorCode is the micro error code of a kind, HTTP-like.
func errorCode(k api.ErrorKind) string {
	switch k {
	case api.KindBadRequest:
		return "400"
	case api.KindNotFound:
		return "404"
	case api.KindUnreachable, api.KindTimeout:
		return "504"
	case api.KindRateLimited:
		return "429"
	}
	return "500"
}

// maxErrorText bounds the error text of a reply. Errors may quote what a
// request carried (an over-long ID); quoted whole, a reply can outgrow the
// server's max_payload, is dropped by the connection, and the requester
// waits for a timeout instead of reading why.
const maxErrorText = 2048

// capText cuts an error text to maxErrorText bytes, on a rune boundary,
// saying how much was cut.
func capText(s string) string {
	if len(s) <= maxErrorText {
		return s
	}
	cut := maxErrorText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.ToValidUTF8(s[:cut], "") + fmt.Sprintf("... (%d more bytes cut)", len(s)-cut)
}

// oneLine makes s fit a header value.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "failed"
	}
	if len(s) > 512 {
		s = s[:512]
	}
	return s
}
