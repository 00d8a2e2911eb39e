package service

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cfgsnap/cfgsnap/backend/api"
)

// DefaultInboxPrefix is the inbox prefix every NATS client uses unless told
// otherwise; replies may always go there unless a tenant has prefixes of
// its own.
const DefaultInboxPrefix = "_INBOX."

// Reasons a reply subject is refused, the label of
// cfgsnap_replies_refused_total.
const (
	refusedNotInbox     = "not_inbox"    // outside every allowed inbox prefix
	refusedTenantInbox  = "tenant_inbox" // an inbox, but not one of the request's tenant
	refusedBadSubject   = "bad_subject"  // wildcards, empty tokens, spaces
	maxRefusalLogKeys   = 1024           // requesters remembered for log dedupe
	refusalLogKeyTokens = 2              // tokens of a reply subject naming a requester
)

// inboxGuard decides where replies may go. The service publishes with its
// own (broad) permissions, so a reply subject is a request to write
// somewhere: it is honoured only under an inbox prefix, never on the
// service's own subjects, another tenant's inbox, the JetStream API or a
// KV bucket.
type inboxGuard struct {
	global   []string            // _INBOX. and Config.InboxPrefixes
	byTenant map[string][]string // Config.TenantInboxPrefixes

	counts map[string]*atomic.Int64 // by reason

	mu     sync.Mutex
	logged map[string]struct{} // tenant|reply prefix already logged
}

// normPrefix makes "_INBOX_acme" and "_INBOX_acme." the same prefix, and
// refuses what could never be one.
func normPrefix(p string) (string, bool) {
	p = strings.TrimSpace(p)
	p = strings.TrimSuffix(p, ".")
	if p == "" || !validSubject(p) {
		return "", false
	}
	return p + ".", true
}

// newInboxGuard allows _INBOX. and the configured prefixes, except any
// under the service's own subjects (prefix) or the server's ($JS, $KV,
// ...): those are never anyone's inbox.
func newInboxGuard(prefix string, global []string, byTenant map[string][]string) *inboxGuard {
	if prefix == "" {
		prefix = api.DefaultPrefix
	}
	usable := func(p string) (string, bool) {
		n, ok := normPrefix(p)
		if !ok || strings.HasPrefix(n, "$") || strings.HasPrefix(n, prefix+".") || strings.HasPrefix(prefix+".", n) {
			return "", false
		}
		return n, true
	}
	g := &inboxGuard{byTenant: map[string][]string{}, logged: map[string]struct{}{},
		counts: map[string]*atomic.Int64{refusedNotInbox: {}, refusedTenantInbox: {}, refusedBadSubject: {}}}
	g.global = append(g.global, DefaultInboxPrefix)
	for _, p := range global {
		if n, ok := usable(p); ok {
			g.global = append(g.global, n)
		}
	}
	for tenant, ps := range byTenant {
		for _, p := range ps {
			if n, ok := usable(p); ok {
				g.byTenant[tenant] = append(g.byTenant[tenant], n)
			}
		}
	}
	return g
}

// validSubject reports whether s is a literal subject: dot-separated
// non-empty tokens without wildcards or white space.
func validSubject(s string) bool {
	if s == "" || len(s) > 4096 {
		return false
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || tok == "*" || tok == ">" {
			return false
		}
		for i := 0; i < len(tok); i++ {
			if c := tok[i]; c <= ' ' || c == 0x7f || c == '*' || c == '>' {
				return false
			}
		}
	}
	return true
}

// tenantInboxPrefix is the inbox prefix of the convention of
// examples/nats-tenants.conf: tenant acme's users receive replies on
// _INBOX_acme.>. Requests on a tenant's subjects may always be answered
// there unless the tenant has prefixes configured; no request can be
// answered on another tenant's.
const tenantInboxPrefix = "_INBOX_"

// check returns "" when replies to reply may be sent for a request about
// tenant ("" when the request names none), else the reason for refusing.
func (g *inboxGuard) check(tenant, reply string) string {
	if !validSubject(reply) {
		return refusedBadSubject
	}
	if own, ok := g.byTenant[tenant]; ok && tenant != "" {
		if hasPrefix(reply, own) {
			return ""
		}
		if g.isInbox(reply) {
			return refusedTenantInbox
		}
		return refusedNotInbox
	}
	if hasPrefix(reply, g.global) {
		return ""
	}
	if tenant != "" && api.ValidID(tenant) && hasPrefix(reply, []string{tenantInboxPrefix + tenant + "."}) {
		return ""
	}
	if g.isInbox(reply) {
		return refusedTenantInbox
	}
	return refusedNotInbox
}

// isInbox reports whether reply looks like anyone's inbox: under a
// configured prefix or the tenant convention.
func (g *inboxGuard) isInbox(reply string) bool {
	if hasPrefix(reply, g.global) || strings.HasPrefix(reply, tenantInboxPrefix) {
		return true
	}
	for _, ps := range g.byTenant {
		if hasPrefix(reply, ps) {
			return true
		}
	}
	return false
}

// hasPrefix requires at least one token after the prefix: a bare prefix is
// nobody's inbox.
func hasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if len(s) > len(p) && strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// firstRefusal counts a refusal and reports whether it is the first from
// this requester (tenant and the first tokens of its reply subject), so
// that it is logged once. Memory stays bounded: past maxRefusalLogKeys
// requesters the set starts again.
func (g *inboxGuard) firstRefusal(tenant, reply, reason string) (first, reset bool) {
	g.counts[reason].Add(1)
	toks := strings.SplitN(reply, ".", refusalLogKeyTokens+1)
	key := tenant + "|" + strings.Join(toks[:min(len(toks), refusalLogKeyTokens)], ".")
	if len(key) > 256 {
		key = key[:256]
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.logged[key]; ok {
		return false, false
	}
	if len(g.logged) >= maxRefusalLogKeys {
		clear(g.logged)
		reset = true
	}
	g.logged[key] = struct{}{}
	return true, reset
}

// allowReply reports whether the service may answer on reply for a
// request about tenant; a refusal is counted and logged once per
// requester. An empty reply (nobody waits) is allowed: nothing is sent.
func (s *Service) allowReply(subject, tenant, reply string) bool {
	if reply == "" {
		return true
	}
	reason := s.inbox.check(tenant, reply)
	if reason == "" {
		return true
	}
	first, reset := s.inbox.firstRefusal(tenant, reply, reason)
	if reset {
		s.log.Warn("refused replies from many requesters; forgetting which were logged", "remembered", maxRefusalLogKeys)
	}
	if first {
		shown := reply
		if len(shown) > 128 {
			shown = shown[:128] + "..."
		}
		s.log.Warn("request dropped: its reply subject is not an allowed inbox; further ones from this requester are counted, not logged",
			"subject", clip(subject, 128), "tenant", tenant, "reply", shown, "reason", reason)
	}
	return false
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// ParseInboxPrefixes reads serve's --inbox-prefix values: PREFIX (allowed
// for every request) or TENANT=PREFIX (that tenant's requests may reply
// only under its prefixes). A value may hold several, separated by commas
// or spaces, and may be a YAML list as the config file gives it ("[a b]").
func ParseInboxPrefixes(values []string) (all []string, byTenant map[string][]string, err error) {
	byTenant = map[string][]string{}
	for _, v := range values {
		for _, item := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '[' || r == ']' }) {
			tenant, prefix, scoped := strings.Cut(item, "=")
			if !scoped {
				prefix, tenant = tenant, ""
			}
			if scoped && !api.ValidID(tenant) {
				return nil, nil, fmt.Errorf("%q: tenant %q is not a tenant ID", item, tenant)
			}
			n, ok := normPrefix(prefix)
			if !ok {
				return nil, nil, fmt.Errorf("%q: %q is not a subject prefix (dot-separated tokens, no wildcards or spaces)", item, prefix)
			}
			if n == "$" || strings.HasPrefix(n, "$") || strings.HasPrefix(n, api.DefaultPrefix+".") {
				return nil, nil, fmt.Errorf("%q: replies may not go to %s subjects", item, n)
			}
			if scoped {
				byTenant[tenant] = append(byTenant[tenant], n)
			} else {
				all = append(all, n)
			}
		}
	}
	return all, byTenant, nil
}
