package collect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"golang.org/x/crypto/ssh"
)

// failure is an error whose text is written for a person and says
// everything needed, while the low-level cause stays in the chain for
// errors.Is/As. api.Error would append the cause's text after the message,
// which puts "dial tcp 192.0.2.1:22: connect:" in front of the advice.
type failure struct {
	e      *api.Error
	causes []error
}

func (f *failure) Error() string { return f.e.Msg }

// Unwrap lists the *api.Error first so api.KindOf finds the kind.
func (f *failure) Unwrap() []error { return append([]error{f.e}, f.causes...) }

func fail(kind api.ErrorKind, causes []error, format string, args ...any) error {
	var kept []error
	for _, c := range causes {
		if c != nil {
			kept = append(kept, c)
		}
	}
	return &failure{e: &api.Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}, causes: kept}
}

// contextFailure reports a job ended by its context. A passed deadline is a
// timeout. A cancellation is kind cancelled: it is a decision of this side
// (the user gave up, the worker is shutting down), never the device's fault;
// callers also check errors.Is(err, context.Canceled).
func contextFailure(ctx context.Context, doing string, extra string) error {
	err := ctx.Err()
	cause := context.Cause(ctx)
	if cause == err {
		cause = nil
	}
	why := ""
	if cause != nil {
		why = " (" + cause.Error() + ")"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fail(api.KindTimeout, []error{err, cause}, "timed out while %s: the job's deadline passed%s%s", doing, why, extra)
	}
	return fail(api.KindCancelled, []error{err, cause}, "cancelled while %s%s%s", doing, why, extra)
}

// classifyDial turns a failed TCP connect into unreachable or timeout, with
// the usual RouterOS causes as advice.
func classifyDial(ctx context.Context, t Target, timeout time.Duration, err error) error {
	addr := t.addr()
	if ctx.Err() != nil {
		return contextFailure(ctx, "connecting to "+t.name(), "")
	}
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		reason := dnsErr.Err
		if dnsErr.IsNotFound {
			reason = "no such host"
		}
		return fail(api.KindUnreachable, []error{err}, "cannot resolve %s for %s: %s — is the host name in the inventory right and DNS working on this machine?", t.Host, t.name(), reason)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fail(api.KindUnreachable, []error{err}, "cannot reach %s: connection refused — is SSH enabled on the device (/ip service) and the address and port right?", addr)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return fail(api.KindUnreachable, []error{err}, "cannot reach %s: no route to host — is the device up and the address right?", addr)
	case errors.Is(err, syscall.ECONNRESET):
		return fail(api.KindUnreachable, []error{err}, "cannot reach %s: connection reset — is a firewall rejecting SSH from this machine?", addr)
	case isTimeout(err):
		return fail(api.KindTimeout, []error{err}, "cannot reach %s: no answer within %s while connecting — is the device up, and is a firewall dropping SSH from this machine?", addr, timeout)
	}
	return fail(api.KindUnreachable, []error{err}, "cannot reach %s: %v", addr, err)
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// classifyHandshake explains a failed ssh.NewClientConn using what the
// callbacks saw: whether the host key was accepted (so the failure is in
// authentication) and which methods were tried.
func classifyHandshake(ctx context.Context, t Target, hs *handshakeState, timeout time.Duration, err error) error {
	if hkErr := hs.hostKeyError(); hkErr != nil {
		return hkErr
	}
	authenticating := hs.hostKeyAccepted()
	if ctx.Err() != nil {
		doing := "doing the SSH handshake with " + t.name()
		if authenticating {
			doing = fmt.Sprintf("logging in to %s as %q", t.name(), t.Auth.Username)
		}
		return contextFailure(ctx, doing, "")
	}
	if isTimeout(err) {
		if authenticating {
			return fail(api.KindTimeout, []error{err}, "timed out logging in to %s as %q: authentication did not finish within %s — the device answered SSH but not the login (overloaded, or a slow RADIUS/user-manager)", t.name(), t.Auth.Username, timeout)
		}
		return fail(api.KindTimeout, []error{err}, "timed out on the SSH handshake with %s: it did not finish within %s — something accepts connections on %s but does not complete SSH (a busy device, a firewall, or not an SSH server)", t.name(), timeout, t.addr())
	}
	tried, allowed := hs.authMethods()
	msg := err.Error()
	rejected := strings.Contains(msg, "unable to authenticate") || strings.Contains(msg, "too many authentication")
	if authenticating && (rejected || (len(tried) > 0 && isDisconnect(err))) {
		return authFailure(t, hs, tried, allowed, err)
	}
	if !authenticating && isDisconnect(err) {
		return fail(api.KindUnreachable, []error{err}, "cannot reach %s: the device closed the connection before the SSH handshake finished — is this address allowed in /ip service ssh (available-from) and is the device's SSH running?", t.addr())
	}
	if authenticating && isDisconnect(err) {
		return fail(api.KindUnreachable, []error{err}, "the device %s closed the connection during login as %q before rejecting or accepting it", t.name(), t.Auth.Username)
	}
	var algErr *ssh.AlgorithmNegotiationError
	if errors.As(err, &algErr) {
		return fail(api.KindUnreachable, []error{err}, "cannot talk SSH to %s: %v — the device offers only algorithms cfgsnap does not accept (very old RouterOS or a strong-crypto setting)", t.name(), err)
	}
	return fail(api.KindUnreachable, []error{err}, "SSH handshake with %s failed: %v", t.name(), err)
}

// isDisconnect reports a connection that ended instead of answering.
func isDisconnect(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "ssh: disconnect")
}

func authFailure(t Target, hs *handshakeState, tried, allowed []string, err error) error {
	var described []string
	for _, m := range tried {
		described = append(described, hs.describe(m))
	}
	advice := "check the username and credentials of this device in the inventory"
	if len(described) == 0 {
		return fail(api.KindAuthFailed, []error{err}, "cannot log in to %s as %q: the device accepts only %s, and no credential of that kind is configured (have: %s) — %s",
			t.name(), t.Auth.Username, orNone(allowed), orNone(hs.offered()), advice)
	}
	return fail(api.KindAuthFailed, []error{err}, "cannot log in to %s as %q: the device rejected %s — %s",
		t.name(), t.Auth.Username, strings.Join(described, ", "), advice)
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
