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
	if cause == err { //nolint:errorlint // identity: without a cause, Cause returns Err itself
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
		return algorithmFailure(t, algErr, err)
	}
	return fail(api.KindUnreachable, []error{err}, "SSH handshake with %s failed: %v", t.name(), err)
}

// isDisconnect reports a connection that ended instead of answering.
func isDisconnect(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "ssh: disconnect")
}

// algorithmFailure explains a handshake with no common algorithm: what
// the device offered, and the two ways out. Listing the device's offer
// lets a person see at once that it is RouterOS 6 without strong crypto.
func algorithmFailure(t Target, algErr *ssh.AlgorithmNegotiationError, err error) error {
	// kex-strict-* and ext-info-* are protocol markers in the key
	// exchange list, not algorithms a person could enable.
	var algs []string
	for _, a := range algErr.RequestedAlgorithms {
		if !strings.HasPrefix(a, "kex-strict-") && !strings.HasPrefix(a, "ext-info-") {
			algs = append(algs, a)
		}
	}
	offered := orNone(algs)
	if t.LegacyAlgorithms {
		return fail(api.KindSSHAlgorithms, []error{err},
			"cannot talk SSH to %s: no common algorithm for %s even with ssh_legacy_algorithms: true — the device offers %s, cfgsnap offers %s; on RouterOS run /ip ssh set strong-crypto=yes",
			t.name(), algErr.What, offered, orNone(algErr.SupportedAlgorithms))
	}
	return fail(api.KindSSHAlgorithms, []error{err},
		"cannot talk SSH to %s: no common algorithm for %s — the device offers only %s (old RouterOS without strong crypto). "+
			"Either enable strong crypto on the device with /ip ssh set strong-crypto=yes (preferred), "+
			"or set ssh_legacy_algorithms: true for this device in the inventory so cfgsnap also offers SHA-1 key exchanges, CBC ciphers and ssh-rsa/ssh-dss host keys",
		t.name(), algErr.What, offered)
}

// classifyTunnelDial explains a jump host that could not open the
// connection onwards (a direct-tcpip channel it refused or never answered).
func classifyTunnelDial(ctx context.Context, t Target, timeout time.Duration, timedOut bool, err error) error {
	if ctx.Err() != nil {
		return contextFailure(ctx, "connecting to "+t.name()+" through its jump host", "")
	}
	if timedOut {
		return fail(api.KindTimeout, []error{err}, "cannot reach %s through the jump host: no answer within %s — is %s reachable from the jump host?", t.addr(), timeout, t.addr())
	}
	var oce *ssh.OpenChannelError
	if errors.As(err, &oce) {
		if oce.Reason == ssh.Prohibited {
			return fail(api.KindUnreachable, []error{err}, "cannot reach %s: the jump host refuses to forward connections (AllowTcpForwarding in its sshd_config?): %s", t.addr(), oce.Message)
		}
		return fail(api.KindUnreachable, []error{err}, "cannot reach %s: the jump host could not connect to it (%s) — is the address right and the device up, as seen from the jump host?", t.addr(), oce.Message)
	}
	if isDisconnect(err) {
		return fail(api.KindUnreachable, []error{err}, "cannot reach %s: the jump host's connection ended while opening the way to it", t.addr())
	}
	return fail(api.KindUnreachable, []error{err}, "cannot reach %s through the jump host: %v", t.addr(), err)
}

func authFailure(t Target, hs *handshakeState, tried, allowed []string, err error) error {
	var described []string
	for _, m := range tried {
		described = append(described, hs.describe(m))
	}
	advice := "check the username and credentials of this device in the inventory"
	if t.hop != nil {
		advice = "check the user in proxy_jump and proxy_identity_file in the inventory (without proxy_identity_file the jump host is offered the device's credentials)"
	}
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
