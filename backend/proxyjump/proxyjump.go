// Package proxyjump reads OpenSSH's -J / ProxyJump syntax. It is its own
// package so that the inventory can validate proxy_jump without importing
// the SSH client.
package proxyjump

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Hop is one jump host of a ProxyJump path, as OpenSSH's -J names it.
type Hop struct {
	User string // "" = the device's username
	Host string
	Port int // 0 = 22
}

// EffectivePort is Port, or 22 when it is 0.
func (h Hop) EffectivePort() int {
	if h.Port == 0 {
		return 22
	}
	return h.Port
}

// Addr is host:port for dialing.
func (h Hop) Addr() string { return net.JoinHostPort(h.Host, strconv.Itoa(h.EffectivePort())) }

// String is the hop in -J syntax.
func (h Hop) String() string {
	s := h.Addr()
	if h.Port == 0 {
		s = h.Host
		if strings.Contains(s, ":") {
			s = "[" + s + "]"
		}
	}
	if h.User != "" {
		s = h.User + "@" + s
	}
	return s
}

// MaxHops bounds a path: each hop is a full SSH connection inside the
// previous one, and no real network needs more than a handful.
const MaxHops = 8

// Parse reads OpenSSH -J / ProxyJump syntax: comma-separated hops
// of [user@]host[:port] (IPv6 as [addr]:port), each optionally written as
// ssh://[user@]host[:port]. "none" (as in ssh_config) is no hop at all.
// The error is one sentence naming the bad hop, for inventory problems.
func Parse(spec string) ([]Hop, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" || strings.EqualFold(spec, "none") {
		return nil, nil
	}
	parts := strings.Split(spec, ",")
	if len(parts) > MaxHops {
		return nil, fmt.Errorf("%d hops: at most %d are supported", len(parts), MaxHops)
	}
	hops := make([]Hop, 0, len(parts))
	for i, p := range parts {
		h, err := parseHop(strings.TrimSpace(p))
		if err != nil {
			if len(parts) > 1 {
				return nil, fmt.Errorf("hop %d %q: %w", i+1, p, err)
			}
			return nil, fmt.Errorf("%q: %w", p, err)
		}
		hops = append(hops, h)
	}
	return hops, nil
}

func parseHop(s string) (Hop, error) {
	const form = "write [user@]host[:port]"
	s = strings.TrimPrefix(s, "ssh://")
	s = strings.TrimSuffix(s, "/")
	if s == "" {
		return Hop{}, fmt.Errorf("empty hop: %s", form)
	}
	var h Hop
	if at := strings.LastIndex(s, "@"); at >= 0 {
		h.User, s = s[:at], s[at+1:]
		if h.User == "" || strings.ContainsAny(h.User, " \t@:/") {
			return Hop{}, fmt.Errorf("bad user name: %s", form)
		}
	}
	host, port := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.Index(s, "]")
		if end < 0 {
			return Hop{}, fmt.Errorf("unclosed [ in the address: %s", form)
		}
		host, port = s[1:end], s[end+1:]
		if port != "" {
			p, ok := strings.CutPrefix(port, ":")
			if !ok {
				return Hop{}, fmt.Errorf("text after ]: %s", form)
			}
			port = p
		}
	case strings.Count(s, ":") == 1:
		host, port, _ = strings.Cut(s, ":")
	}
	if err := checkHopHost(host); err != nil {
		return Hop{}, err
	}
	h.Host = host
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return Hop{}, fmt.Errorf("bad port %q: use a number from 1 to 65535", port)
		}
		h.Port = n
	}
	return h, nil
}

func checkHopHost(h string) error {
	if h == "" {
		return fmt.Errorf("no host: write [user@]host[:port]")
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	for _, r := range h {
		ok := r == '.' || r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return fmt.Errorf("host %q contains %s: use an IP address or a DNS name", h, strconv.QuoteRune(r))
		}
	}
	return nil
}
