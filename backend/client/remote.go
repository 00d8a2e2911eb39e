package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/nats-io/nkeys"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/textfmt"
)

// Defaults of RemoteOptions.
const (
	DefaultStallTimeout   = 15 * time.Second
	DefaultRequestTimeout = 10 * time.Second
)

// RemoteOptions tune a Remote.
type RemoteOptions struct {
	// StallTimeout is how long a running backup may stay silent (no
	// progress, heartbeat or final reply) before the client gives up on it.
	// The service sends a heartbeat every 2 s by default.
	StallTimeout time.Duration
	// RequestTimeout bounds the wait for each message of a query's reply.
	RequestTimeout time.Duration
	// MaxReplyBytes bounds a chunked reply put back together (0 is
	// DefaultMaxReplyBytes): a service, or anyone able to write to this
	// client's inbox, cannot make it hold more.
	MaxReplyBytes int64
}

// DefaultMaxReplyBytes bounds a chunked reply: well above the largest
// export the service stores, far below what would hurt a jump host.
const DefaultMaxReplyBytes = 256 << 20

// Remote talks to the backup service over NATS.
type Remote struct {
	nc   *nats.Conn
	subj api.Subjects
	opts RemoteOptions

	mu     sync.Mutex
	denied map[string]map[chan struct{}]struct{} // subject → waiters for a permissions violation
}

// NewRemote returns a client of the service on nc under prefix ("" is
// api.DefaultPrefix). The Remote owns nc: Close closes it. It chains its own
// handler before nc's async error handler to see permission violations.
func NewRemote(nc *nats.Conn, prefix string, opts RemoteOptions) *Remote {
	if opts.StallTimeout <= 0 {
		opts.StallTimeout = DefaultStallTimeout
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	r := &Remote{nc: nc, subj: api.Subjects{Prefix: prefix}, opts: opts,
		denied: map[string]map[chan struct{}]struct{}{}}
	prev := nc.Opts.AsyncErrorCB
	nc.SetErrorHandler(func(c *nats.Conn, s *nats.Subscription, err error) {
		// Permission violations come back to the caller as errors in plain
		// words; printing them again would only add noise.
		if errors.Is(err, nats.ErrPermissionViolation) {
			r.asyncError(err)
			return
		}
		if prev != nil {
			prev(c, s, err)
		}
	})
	return r
}

// NATSOptions say how to authenticate to NATS (cli.md's global flags).
type NATSOptions struct {
	Creds, NKeyFile, User, Password, Token string
	TLSCA, TLSCert, TLSKey                 string
	// InboxPrefix replaces _INBOX for accounts whose users may only
	// subscribe to their own inbox subjects.
	InboxPrefix string
	// Name is the connection's name in the server's monitoring.
	Name string
	// Logger receives the connection's asynchronous errors and state
	// changes; nil discards them (nats.go would print them on stderr,
	// through the TUI).
	Logger *slog.Logger
}

// DialNATS connects to url. Nothing published while disconnected is
// buffered (a trigger must not fire minutes after the user gave up); the
// connection itself reconnects forever. A server that cannot be reached is
// an *api.Error of kind unreachable; refused credentials or TLS setup are
// bad_request (a configuration error).
func DialNATS(ctx context.Context, url string, o NATSOptions) (*nats.Conn, error) {
	name := o.Name
	if name == "" {
		name = "cfgsnap"
	}
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if err := ctx.Err(); err != nil || timeout <= 0 {
		return nil, api.Errorf(api.KindUnreachable, "gave up connecting to NATS at %s: %v", redact(url), context.Cause(ctx))
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.ReconnectBufSize(-1),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.Timeout(timeout),
		nats.PermissionErrOnSubscribe(true),
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts = append(opts,
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				log.Warn("nats", "subject", sub.Subject, "err", err)
				return
			}
			log.Warn("nats", "err", err)
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: closed on purpose
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrlRedacted()) }),
	)
	if o.Creds != "" {
		opts = append(opts, nats.UserCredentials(o.Creds))
	}
	inboxPrefix := o.InboxPrefix
	if o.NKeyFile != "" {
		opt, err := nats.NkeyOptionFromSeed(o.NKeyFile)
		if err != nil {
			return nil, api.Wrap(api.KindBadRequest, err, "read NATS nkey seed "+o.NKeyFile)
		}
		opts = append(opts, opt)
		if inboxPrefix == "" {
			// The embedded server lets an nkey client read only its own
			// inbox; see api.NKeyInbox.
			pub, err := nkeyPublic(o.NKeyFile)
			if err != nil {
				return nil, api.Wrap(api.KindBadRequest, err, "read NATS nkey seed "+o.NKeyFile)
			}
			inboxPrefix = api.NKeyInbox(pub)
		}
	}
	if o.User != "" || o.Password != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if o.Token != "" {
		opts = append(opts, nats.Token(o.Token))
	}
	if o.TLSCA != "" {
		opts = append(opts, nats.RootCAs(o.TLSCA))
	}
	if o.TLSCert != "" || o.TLSKey != "" {
		opts = append(opts, nats.ClientCert(o.TLSCert, o.TLSKey))
	}
	if inboxPrefix != "" {
		// "_INBOX_acme." as the service's --inbox-prefix spells it is
		// "_INBOX_acme" to the NATS client, which adds the dot.
		opts = append(opts, nats.CustomInboxPrefix(strings.TrimSuffix(inboxPrefix, ".")))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, classifyConnectErr(url, err)
	}
	return nc, nil
}

func classifyConnectErr(url string, err error) error {
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	switch {
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired),
		errors.Is(err, nats.ErrAuthRevoked), strings.Contains(strings.ToLower(err.Error()), "authorization violation"):
		return api.Wrap(api.KindBadRequest, err, fmt.Sprintf("NATS at %s refused the credentials (check --nats-user/--nats-password, --nats-creds, --nats-nkey or --nats-token)", redact(url)))
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.Is(err, nats.ErrSecureConnRequired),
		errors.Is(err, nats.ErrSecureConnWanted):
		return api.Wrap(api.KindBadRequest, err, fmt.Sprintf("TLS to NATS at %s failed (check --tls-ca, --tls-cert, --tls-key)", redact(url)))
	case errors.Is(err, nats.ErrInvalidArg), errors.Is(err, nats.ErrBadTimeout):
		return api.Wrap(api.KindBadRequest, err, "NATS options")
	}
	return api.Wrap(api.KindUnreachable, err, fmt.Sprintf("cannot reach the backup service's NATS at %s", redact(url)))
}

// redact hides a password in a URL's user info.
func redact(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return url
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if user, _, hasPw := strings.Cut(rest[:at], ":"); hasPw {
			return scheme + "://" + user + ":***@" + rest[at+1:]
		}
	}
	return url
}

func (r *Remote) Mode() Mode { return ModeRemote }

// Where is the NATS server the client is connected to (password hidden).
func (r *Remote) Where() string {
	if u := r.nc.ConnectedUrlRedacted(); u != "" {
		return u
	}
	return strings.Join(r.nc.Servers(), ",")
}

func (r *Remote) ConnState() ConnState {
	switch r.nc.Status() {
	case nats.CONNECTED, nats.DRAINING_SUBS, nats.DRAINING_PUBS:
		return ConnConnected
	case nats.RECONNECTING, nats.CONNECTING:
		return ConnReconnecting
	}
	return ConnDisconnected
}

// Close closes the connection.
func (r *Remote) Close() error {
	r.nc.Close()
	return nil
}

func (r *Remote) Tenants(ctx context.Context) ([]api.Tenant, error) {
	var rep api.TenantsReply
	if err := r.query(ctx, r.subj.Tenants(), "list the tenants", struct{}{}, &rep); err != nil {
		return nil, err
	}
	return rep.Tenants, nil
}

func (r *Remote) Devices(ctx context.Context, tenant string) ([]api.Device, error) {
	if err := api.CheckID("tenant ID", tenant); err != nil {
		return nil, err
	}
	var rep api.DevicesReply
	if err := r.query(ctx, r.subj.Devices(tenant), "use tenant "+tenant, struct{}{}, &rep); err != nil {
		return nil, err
	}
	return rep.Devices, nil
}

func (r *Remote) History(ctx context.Context, tenant, device string, limit int, before string) ([]api.SnapshotRecord, bool, error) {
	if err := checkIDs(tenant, device); err != nil {
		return nil, false, err
	}
	var rep api.ListReply
	req := api.ListRequest{DeviceID: device, Limit: limit, Before: before}
	if err := r.query(ctx, r.subj.List(tenant), "use tenant "+tenant, req, &rep); err != nil {
		return nil, false, err
	}
	return rep.Snapshots, rep.More, nil
}

// Snapshot fetches a snapshot whole, however large, and checks that the
// content is the one its hash names. ref may be "latest", a hash or a
// prefix: the service resolves it.
func (r *Remote) Snapshot(ctx context.Context, tenant, device, ref string) (api.SnapshotRecord, []byte, error) {
	if err := checkIDs(tenant, device); err != nil {
		return api.SnapshotRecord{}, nil, err
	}
	var rep api.GetReply
	req := api.GetRequest{DeviceID: device, SHA256: ref}
	if err := r.query(ctx, r.subj.Get(tenant), "use tenant "+tenant, req, &rep); err != nil {
		return api.SnapshotRecord{}, nil, err
	}
	content := []byte(rep.Content)
	if sum := sha256.Sum256(content); hex.EncodeToString(sum[:]) != rep.SHA256 {
		return api.SnapshotRecord{}, nil, api.Errorf(api.KindInternal,
			"snapshot %s of %s/%s arrived damaged: its content does not hash to its SHA-256", textfmt.ShortHash(rep.SHA256), tenant, device)
	}
	return rep.SnapshotRecord, content, nil
}

// Backup sends a trigger with progress streaming and waits for the final
// reply. Silence longer than StallTimeout ends the wait with a failed reply
// of kind timeout and the same error: the worker may have died, and its
// lock expires on its own.
func (r *Remote) Backup(ctx context.Context, tenant, device string, opts BackupOptions, progress func(api.ProgressEvent)) (api.TriggerReply, error) {
	if err := checkIDs(tenant, device); err != nil {
		return api.FailedReply("", tenant, device, err), err
	}
	data, err := json.Marshal(api.TriggerRequest{DeviceID: device, RequestedBy: opts.RequestedBy, Reason: opts.Reason})
	if err != nil {
		return api.TriggerReply{}, api.Wrap(api.KindInternal, err, "encode trigger")
	}
	hdr := nats.Header{}
	hdr.Set(api.HeaderProgress, api.HeaderProgressValue)
	var final *api.TriggerReply
	var jobID string
	err = r.exchange(ctx, r.subj.Trigger(tenant), "use tenant "+tenant, hdr, data, r.opts.StallTimeout, func(m *nats.Msg) (bool, error) {
		if m.Header.Get(api.HeaderEvent) == api.EventProgress {
			var ev api.ProgressEvent
			if err := json.Unmarshal(m.Data, &ev); err != nil {
				return false, api.Wrap(api.KindInternal, err, "the service sent a progress event this client cannot read")
			}
			jobID = ev.JobID
			if progress != nil {
				progress(ev)
			}
			return false, nil
		}
		var rep api.TriggerReply
		if err := json.Unmarshal(m.Data, &rep); err != nil {
			return false, api.Wrap(api.KindInternal, err, "the service sent a reply this client cannot read")
		}
		final = &rep
		return true, nil
	})
	if errors.Is(err, errStalled) {
		err = api.Errorf(api.KindTimeout, "the backup service stopped answering about %s/%s for %s (its worker may have died; the device's lock expires on its own)",
			tenant, device, r.opts.StallTimeout)
		return api.FailedReply(jobID, tenant, device, err), err
	}
	if err != nil {
		return api.FailedReply(jobID, tenant, device, err), err
	}
	return *final, nil
}

// WatchDevice follows the device's progress subject: every job's progress
// events and, as an extension of protocol.md §4, its final reply (header
// Cfgsnap-Event: final).
func (r *Remote) WatchDevice(ctx context.Context, tenant, device string, fn func(Update)) (func(), error) {
	if err := checkIDs(tenant, device); err != nil {
		return nil, err
	}
	return r.watch(ctx, r.subj.Progress(tenant, device), "use tenant "+tenant, func(m *nats.Msg) {
		if m.Header.Get(api.HeaderEvent) == api.EventFinal {
			var rep api.TriggerReply
			if json.Unmarshal(m.Data, &rep) == nil {
				fn(Update{Final: &rep})
			}
			return
		}
		var ev api.ProgressEvent
		if json.Unmarshal(m.Data, &ev) == nil {
			fn(Update{Progress: &ev})
		}
	})
}

// WatchSnapshots follows snapshot.created.<tenant>.*.
func (r *Remote) WatchSnapshots(ctx context.Context, tenant string, fn func(api.SnapshotRecord)) (func(), error) {
	if err := api.CheckID("tenant ID", tenant); err != nil {
		return nil, err
	}
	return r.watch(ctx, r.subj.SnapshotCreated(tenant, "*"), "use tenant "+tenant, func(m *nats.Msg) {
		var rec api.SnapshotRecord
		if json.Unmarshal(m.Data, &rec) == nil {
			fn(rec)
		}
	})
}

func (r *Remote) ForgetHostKey(ctx context.Context, tenant, device string) error {
	return api.Errorf(api.KindBadRequest,
		"host keys are kept by the backup service: run `cfgsnap hostkey forget %s/%s` on the machine that runs `cfgsnap serve` (same --data-dir)", tenant, device)
}

func (r *Remote) watch(ctx context.Context, subject, what string, fn func(*nats.Msg)) (func(), error) {
	if err := r.connected(); err != nil {
		return nil, err
	}
	sub, err := r.nc.Subscribe(subject, fn)
	if err != nil {
		return nil, r.connErr(err)
	}
	if err := r.nc.FlushTimeout(r.opts.RequestTimeout); err != nil {
		_ = sub.Unsubscribe()
		return nil, r.connErr(err)
	}
	if r.deniedSubscription(subject) {
		_ = sub.Unsubscribe()
		return nil, notAllowed(what)
	}
	stopCtx, cancel := context.WithCancel(ctx)
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); _ = sub.Unsubscribe() }) }
	go func() {
		<-stopCtx.Done()
		stop()
	}()
	return stop, nil
}

// query sends one request and decodes its (possibly chunked) reply into out.
func (r *Remote) query(ctx context.Context, subject, what string, req, out any) error {
	return r.queryWait(ctx, subject, what, req, out, r.opts.RequestTimeout)
}

// queryWait is query waiting up to wait for each message of the reply.
func (r *Remote) queryWait(ctx context.Context, subject, what string, req, out any, wait time.Duration) error {
	data, err := json.Marshal(req)
	if err != nil {
		return api.Wrap(api.KindInternal, err, "encode request")
	}
	asm := newAssembler(r.opts.MaxReplyBytes, r.nc.MaxPayload())
	err = r.exchange(ctx, subject, what, nil, data, wait, func(m *nats.Msg) (bool, error) {
		body, done, err := asm.add(m)
		if err != nil || !done {
			return false, err
		}
		if m.Header.Get(micro.ErrorHeader) != "" {
			var e api.ErrorReply
			if err := json.Unmarshal(body, &e); err != nil || e.ErrorKind == "" {
				return false, api.Errorf(api.KindInternal, "the service refused the request: %s", m.Header.Get(micro.ErrorHeader))
			}
			return false, &api.Error{Kind: e.ErrorKind, Msg: e.Error}
		}
		if err := json.Unmarshal(body, out); err != nil {
			return false, api.Wrap(api.KindInternal, err, "the service sent a reply this client cannot read")
		}
		return true, nil
	})
	if errors.Is(err, errStalled) {
		return api.Errorf(api.KindUnreachable, "the backup service did not answer on %s within %s", subject, wait)
	}
	return err
}

// assembler puts a chunked reply back together, up to maxBytes in at most
// maxChunks chunks.
type assembler struct {
	buf       bytes.Buffer
	n         int // chunks received
	maxBytes  int64
	maxChunks int
}

// newAssembler bounds a reply to maxBytes (0: DefaultMaxReplyBytes). The
// service fills each chunk up to the server's max_payload less a little
// room for headers, so more chunks than maxBytes / (maxPayload/2) means
// tiny chunks meant to cost this client work.
func newAssembler(maxBytes, maxPayload int64) *assembler {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxReplyBytes
	}
	per := max(maxPayload/2, 1<<10)
	return &assembler{maxBytes: maxBytes, maxChunks: int(maxBytes/per) + 1}
}

// add takes the next message of a reply; done is true with the whole body.
func (a *assembler) add(m *nats.Msg) (body []byte, done bool, err error) {
	if c := m.Header.Get(api.HeaderChunk); c != "" {
		is, ns, _ := strings.Cut(c, "/")
		if i, err := strconv.Atoi(is); err != nil || i != a.n+1 {
			return nil, false, api.Errorf(api.KindInternal, "reply chunk %q out of order after %d chunks", c, a.n)
		}
		if n, err := strconv.Atoi(ns); err == nil && n > a.maxChunks || a.n+1 > a.maxChunks {
			return nil, false, api.Errorf(api.KindInternal, "the reply comes in more than %d chunks: refused, it would exceed this client's limit of %d MiB", a.maxChunks, a.maxBytes>>20)
		}
		if int64(a.buf.Len())+int64(len(m.Data)) > a.maxBytes {
			return nil, false, api.Errorf(api.KindInternal, "the reply exceeds this client's limit of %d MiB: refused after %d chunks", a.maxBytes>>20, a.n)
		}
		a.n++
		a.buf.Write(m.Data)
		return nil, false, nil
	}
	if a.n == 0 {
		return m.Data, true, nil
	}
	if want, _ := strconv.Atoi(m.Header.Get(api.HeaderChunks)); want != a.n {
		return nil, false, api.Errorf(api.KindInternal, "reply arrived in %d of %d chunks", a.n, want)
	}
	sum := sha256.Sum256(a.buf.Bytes())
	if hex.EncodeToString(sum[:]) != m.Header.Get(api.HeaderSHA256) {
		return nil, false, api.Errorf(api.KindInternal, "reply of %d chunks arrived damaged (SHA-256 mismatch)", a.n)
	}
	return a.buf.Bytes(), true, nil
}

var errStalled = errors.New("no message within the stall timeout")

// exchange publishes one request with a reply inbox of its own (nc.Request
// would return only the first of several replies) and hands each message on
// that inbox to handle until it is done. idle bounds the silence between
// messages. No responders, a lost connection and a permissions violation
// end the wait at once.
func (r *Remote) exchange(ctx context.Context, subject, what string, hdr nats.Header, data []byte, idle time.Duration,
	handle func(*nats.Msg) (done bool, err error)) error {
	if err := r.connected(); err != nil {
		return err
	}
	inbox := r.nc.NewInbox()
	ch := make(chan *nats.Msg, 1024)
	sub, err := r.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return r.connErr(err)
	}
	defer sub.Unsubscribe()
	// Make sure the inbox may be used before anything is sent: a trigger
	// whose replies cannot arrive must not fire.
	if err := r.nc.FlushTimeout(r.opts.RequestTimeout); err != nil {
		return r.connErr(err)
	}
	if r.deniedSubscription(inbox) {
		return api.Errorf(api.KindBadRequest,
			"not allowed: your NATS user may not receive replies on %s; give the inbox prefix it may use with --inbox-prefix", inbox)
	}
	denied, stopWatch := r.watchDenied(subject)
	defer stopWatch()

	if err := r.nc.PublishMsg(&nats.Msg{Subject: subject, Reply: inbox, Header: hdr, Data: data}); err != nil {
		return r.connErr(err)
	}
	timer := time.NewTimer(idle)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return api.Wrap(api.KindTimeout, ctx.Err(), "gave up waiting for the backup service")
			}
			return ctx.Err()
		case <-denied:
			return notAllowed(what)
		case <-timer.C:
			if r.nc.Status() != nats.CONNECTED {
				return api.Errorf(api.KindUnreachable, "lost the connection to NATS (%s) while waiting on %s", strings.ToLower(r.nc.Status().String()), subject)
			}
			return errStalled
		case m := <-ch:
			if isNoResponders(m) {
				return api.Errorf(api.KindUnreachable, "no backup service answers on %s (is `cfgsnap serve` running and connected to this NATS?)", subject)
			}
			done, err := handle(m)
			if err != nil || done {
				return err
			}
			timer.Reset(idle)
		}
	}
}

// connected fails at once while the connection is down, rather than
// after a flush times out.
func (r *Remote) connected() error {
	if st := r.nc.Status(); st != nats.CONNECTED {
		return api.Errorf(api.KindUnreachable, "not connected to NATS at %s (%s): nothing was sent",
			r.Where(), strings.ToLower(st.String()))
	}
	return nil
}

func isNoResponders(m *nats.Msg) bool {
	return len(m.Data) == 0 && m.Header.Get("Status") == "503"
}

func notAllowed(what string) error {
	return api.Errorf(api.KindBadRequest, "not allowed: your NATS user may not %s", what)
}

// connErr explains a failure to use the connection.
func (r *Remote) connErr(err error) error {
	switch {
	case errors.Is(err, nats.ErrReconnectBufExceeded), errors.Is(err, nats.ErrConnectionReconnecting):
		return api.Wrap(api.KindUnreachable, err, "not connected to NATS (reconnecting): nothing was sent")
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, nats.ErrNoServers), errors.Is(err, nats.ErrTimeout), errors.Is(err, syscall.ECONNREFUSED):
		return api.Wrap(api.KindUnreachable, err, "NATS connection")
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return api.Wrap(api.KindUnreachable, err, "NATS connection")
	}
	return api.Wrap(api.KindInternal, err, "NATS")
}

// deniedSubscription reports whether the server refused this connection's
// subscription on subject. Call it after a flush: the server sends the
// refusal before the PONG that ends the flush, and the connection records
// it as its last error as it reads it.
func (r *Remote) deniedSubscription(subject string) bool {
	last := r.nc.LastError()
	return last != nil && errors.Is(last, nats.ErrPermissionViolation) &&
		strings.Contains(last.Error(), `Subscription to "`+subject+`"`)
}

// permissionRe finds the subject of a denied publish, e.g.
// `Permissions Violation for Publish to "cfgsnap.backup.trigger.globex"`.
var permissionRe = regexp.MustCompile(`(?i)Publish to "([^"]+)"`)

func (r *Remote) asyncError(err error) {
	if !errors.Is(err, nats.ErrPermissionViolation) {
		return
	}
	m := permissionRe.FindStringSubmatch(err.Error())
	if m == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for ch := range r.denied[m[1]] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// watchDenied returns a channel that receives when the server denies this
// connection a publish to subject.
func (r *Remote) watchDenied(subject string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	r.mu.Lock()
	if r.denied[subject] == nil {
		r.denied[subject] = map[chan struct{}]struct{}{}
	}
	r.denied[subject][ch] = struct{}{}
	r.mu.Unlock()
	return ch, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.denied[subject], ch)
		if len(r.denied[subject]) == 0 {
			delete(r.denied, subject)
		}
	}
}

func checkIDs(tenant, device string) error {
	if err := api.CheckID("tenant ID", tenant); err != nil {
		return err
	}
	return api.CheckID("device ID", device)
}

// nkeyPublic reads the public key of the nkey seed in path (a bare seed or
// one decorated like a creds file, as nats.NkeyOptionFromSeed reads it).
func nkeyPublic(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	kp, err := nkeys.ParseDecoratedNKey(b)
	if err != nil {
		return "", err
	}
	defer kp.Wipe()
	return kp.PublicKey()
}
