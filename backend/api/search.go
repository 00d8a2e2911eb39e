package api

import "time"

// Fleet search and "what changed" (issue 12 §3 and §4): an extension of
// protocol.md with one request subject per tenant each, so that a NATS
// user's permissions confine them like the other query subjects:
//
//	<prefix>.search.<tenant>   SearchRequest  → SearchReply
//	<prefix>.changes.<tenant>  ChangesRequest → ChangesReply
//
// Large replies come in chunks like snapshot.get; refusals are
// {"error", "error_kind"} with the micro error headers.

// Result bounds of search and changes: a request without max gets the
// default, a larger one is cut to the limit, and the reply says whether
// more exist.
const (
	DefaultSearchMax = 1000
	MaxSearchMax     = 10000
	// MaxPatternLen bounds a search pattern (Go's regexp is linear in the
	// input, but a huge pattern still costs memory to compile).
	MaxPatternLen = 4096
)

// SearchRequest asks for the lines of the latest snapshot of every device
// of the subject's tenant that match a regular expression (Go RE2 syntax,
// each line matched on its own, so ^ and $ anchor at line ends).
type SearchRequest struct {
	Pattern string `json:"pattern"`
	// IgnoreCase matches case-insensitively (as -i, or (?i) in the pattern).
	IgnoreCase bool `json:"ignore_case,omitempty"`
	// Device is a glob on device IDs (path.Match syntax: * ? [...]); "" is
	// every device.
	Device string `json:"device,omitempty"`
	// Secrets matches and returns the lines as stored. Without it the
	// pattern is matched against the redacted lines (redact.Line) and the
	// redacted lines are returned, so a pattern cannot probe a secret's
	// value.
	Secrets bool `json:"secrets,omitempty"`
	// Max bounds the matches returned; 0 is DefaultSearchMax, more than
	// MaxSearchMax is cut to it.
	Max int `json:"max,omitempty"`
	// TenantID is optional on the wire; when present it must equal the
	// subject's tenant. Client APIs use it to scope the search ("" = every
	// tenant the user may list).
	TenantID string `json:"tenant_id,omitempty"`
}

// SearchMatch is one matching line.
type SearchMatch struct {
	TenantID string `json:"tenant_id"`
	DeviceID string `json:"device_id"`
	// SHA256 is the hash of the snapshot searched, the device's latest.
	SHA256 string `json:"sha256_hash"`
	// Line is the 1-based line number in the normalised export (the same
	// as in `cfgsnap show`).
	Line int `json:"line"`
	// Menu is the RouterOS menu path in effect at the line ("" before the
	// first menu).
	Menu string `json:"menu"`
	// Text is the line, redacted unless the request asked for secrets.
	Text string `json:"text"`
}

// SearchReply answers <prefix>.search.<tenant>. Matches are ordered by
// tenant, device and line; More says that matches beyond Max exist.
type SearchReply struct {
	Matches []SearchMatch `json:"matches"`
	More    bool          `json:"more"`
	// Devices is how many devices' latest snapshots were searched.
	Devices int `json:"devices_searched"`
}

// ChangesRequest asks for the configuration changes of the subject's
// tenant stored at or after Since.
type ChangesRequest struct {
	Since time.Time `json:"since"`
	// Max bounds the changes returned (newest first); 0 is
	// DefaultSearchMax, more than MaxSearchMax is cut to it.
	Max      int    `json:"max,omitempty"`
	TenantID string `json:"tenant_id,omitempty"`
}

// ChangeKind says whether a snapshot changed a known configuration or was
// a device's first.
type ChangeKind string

const (
	ChangeChanged ChangeKind = "changed"
	ChangeNew     ChangeKind = "new"
)

// Change is one snapshot that changed its device's configuration (or was
// its first: Kind new, no counts).
type Change struct {
	TenantID     string     `json:"tenant_id"`
	DeviceID     string     `json:"device_id"`
	Kind         ChangeKind `json:"kind"`
	SnapshotID   string     `json:"snapshot_id"`
	SHA256       string     `json:"sha256_hash"`
	PreviousHash string     `json:"previous_hash"`
	CollectedAt  time.Time  `json:"collected_at"`
	// Added and Removed count the lines of the line diff (textdiff) from
	// the previous configuration; a line that changed counts once in each.
	Added       int     `json:"added"`
	Removed     int     `json:"removed"`
	Trigger     Trigger `json:"trigger"`
	RequestedBy string  `json:"requested_by"`
	Reason      string  `json:"reason"`
}

// ChangesReply answers <prefix>.changes.<tenant>, newest first.
type ChangesReply struct {
	Changes []Change `json:"changes"`
	More    bool     `json:"more"`
}

// LimitMax applies DefaultSearchMax and MaxSearchMax to a requested max.
func LimitMax(n int) int {
	if n <= 0 {
		return DefaultSearchMax
	}
	return min(n, MaxSearchMax)
}

func (s Subjects) Search(tenant string) string  { return s.p() + ".search." + tenant }
func (s Subjects) Changes(tenant string) string { return s.p() + ".changes." + tenant }
