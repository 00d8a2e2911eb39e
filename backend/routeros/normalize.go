// Package routeros holds what cfgsnap knows about MikroTik RouterOS: which
// export command a version takes, how to tell an export from an error reply,
// and normalisation v1 (docs/normalization.md), which makes two
// backups of an unchanged router hash the same whatever the time of day, the
// wrap width or the line ends of the SSH channel. It also loads the Oxidized
// capture files that the device simulator and the tests replay.
package routeros

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
)

// VolatileComment is a comment line that RouterOS writes into an export from
// live state rather than from configuration (rule 6). Dropping it keeps a
// flapping PoE port or a neighbour's bad packet from looking like a change.
type VolatileComment struct {
	Name string
	// Pattern is matched against the whole line after its leading blanks,
	// trailing blanks already trimmed (rule 4 runs first).
	Pattern *regexp.Regexp
}

// Match reports whether line, with leading blanks removed, is this comment.
func (c VolatileComment) Match(line []byte) bool { return c.Pattern.Match(line) }

// VolatileComments is rule 6 as data: the one list of live-state comments
// that normalisation drops. Every entry needs a case in
// TestVolatileComments; extending the list changes hashes, so it bumps
// api.NormalizationVersion.
var VolatileComments = []VolatileComment{
	{"inactive time", regexp.MustCompile(`^# inactive time$`)},
	{"received packet bad format", regexp.MustCompile(`^# received packet from \S+ bad format$`)},
	{"poe-out status", regexp.MustCompile(`^# poe-out status: \S+$`)},
	{"firmware upgraded", regexp.MustCompile(`^# Firmware upgraded successfully`)},
	{"not ready", regexp.MustCompile(`^# \S+ not ready$`)},
	{"interface not active", regexp.MustCompile(`^# Interface not active$`)},
	{"restart to apply", regexp.MustCompile(`^#.*please restart the device in order to apply the new setting`)},
}

// exportHeader is rule 5: the timestamp line RouterOS puts on top of every
// export. v6 and early v7 print `mar/05/2022`, 7.10 and later `2024-10-25`;
// `2024/10/25` is what the-other-dude expected and is kept for its data.
var exportHeader = regexp.MustCompile(`^# (?:\d{4}-\d{2}-\d{2}|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)/\d{2}/\d{4}|\d{4}/\d{2}/\d{2}) \d{2}:\d{2}:\d{2} by RouterOS`)

const esc = 0x1b

// maxCSIBody bounds the parameter and intermediate bytes of an ANSI
// sequence. Real ones are a dozen bytes; the bound keeps a hostile device
// from making the backward search in endsWithCSI quadratic.
const maxCSIBody = 256

// Normalize applies rules 1-7 of normalisation v1 to a raw export and
// returns text that is still a valid RouterOS import script. It never
// fails: an export with nothing left is the empty text, which Validate
// rejects. Normalize(Normalize(x)) == Normalize(x) for every x.
//
// Where applying the rules literally one after the other would not be
// idempotent, the rules are read so that it is: every CR is dropped (not
// only one at a line end), a continuation backslash may be followed by
// blanks, an ANSI sequence is also removed when the removal of another one
// or a join completes it, and a line that starts with blanks and then '#'
// is a comment line for the leading comment block of rule 5.
func Normalize(raw []byte) []byte {
	n := normalizer{out: make([]byte, 0, len(raw)+1), inLeadBlock: true}
	for rest := raw; len(rest) > 0; {
		rest = n.logicalLine(rest)
	}
	return n.out
}

// Hash is the snapshot identity: lowercase hex SHA-256 of normalised text.
func Hash(normalized []byte) string {
	sum := sha256.Sum256(normalized)
	return hex.EncodeToString(sum[:])
}

// normalizer makes a single pass over the raw bytes, writing each logical
// line (physical lines joined at continuations) straight into out and
// truncating out again when the line turns out blank or dropped, so that a
// whole export costs one allocation.
type normalizer struct {
	out          []byte
	inLeadBlock  bool // no line other than blanks and comments seen yet (rule 5)
	pendingBlank bool // a blank line since the last kept line (rule 7)
}

// logicalLine consumes one logical line from rest and returns what follows.
func (n *normalizer) logicalLine(rest []byte) []byte {
	sep := len(n.out)
	if n.pendingBlank {
		n.out = append(n.out, '\n')
	}
	start := len(n.out)

	var seg []byte
	seg, rest = nextSegment(rest)
	mayHaveEsc := n.appendSegment(seg, start, -1, false)
	for {
		n.trimRight(start)
		// A backslash on the last physical line has nothing to absorb and
		// stays, which keeps a second pass from joining anything either.
		if len(n.out) == start || n.out[len(n.out)-1] != '\\' || len(rest) == 0 {
			break
		}
		n.out = n.out[:len(n.out)-1]
		seg, rest = nextSegment(rest)
		mayHaveEsc = n.appendSegment(seg, start, len(n.out), mayHaveEsc)
	}

	line := n.out[start:]
	if len(line) == 0 {
		n.out = n.out[:sep]
		n.pendingBlank = sep > 0 // leading blank lines are dropped
		return rest
	}
	if n.drop(line) {
		n.out = n.out[:sep]
		return rest
	}
	n.pendingBlank = false
	n.out = append(n.out, '\n')
	return rest
}

func nextSegment(b []byte) (seg, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// appendSegment appends one physical line to the logical line that starts
// at out[start]. absorbStart >= 0 marks a continuation, whose leading
// blanks go (rule 3). mayHaveEsc says whether the logical line may hold an
// ESC so far; the result says the same after this segment.
func (n *normalizer) appendSegment(seg []byte, start, absorbStart int, mayHaveEsc bool) bool {
	if len(seg) > 0 && seg[len(seg)-1] == '\r' {
		seg = seg[:len(seg)-1]
	}
	// Fast path, nearly every line of a real export: without an ESC in the
	// line so far or in seg, no ANSI sequence can form, and without a CR
	// the bytes go over unchanged.
	if !mayHaveEsc && bytes.IndexByte(seg, esc) < 0 && bytes.IndexByte(seg, '\r') < 0 {
		if absorbStart >= 0 {
			seg = trimLeftBlanks(seg)
		}
		n.out = append(n.out, seg...)
		return false
	}
	for _, c := range seg {
		if c == '\r' {
			continue
		}
		if (c == ' ' || c == '\t') && absorbStart >= 0 && len(n.out) == absorbStart {
			continue
		}
		n.out = append(n.out, c)
		if c >= 0x40 && c <= 0x7e {
			if i := endsWithCSI(n.out, start); i >= 0 {
				n.out = n.out[:i]
				if len(n.out) < absorbStart {
					// The ESC sat before the join, so the continuation has
					// begun already and its later blanks are content.
					absorbStart = -1
				}
			}
		}
	}
	return true
}

// endsWithCSI returns where an ANSI control sequence (ESC '[' parameter
// bytes, intermediate bytes, final byte) ending at the last byte of
// b[start:] begins, or -1. Checking at every final byte appended, rather
// than scanning the input forwards, also catches sequences that only come
// together once another sequence or a line join is removed, which keeps
// Normalize idempotent.
func endsWithCSI(b []byte, start int) int {
	k := len(b) - 2
	lowest := max(start, len(b)-1-maxCSIBody)
	for k >= lowest && b[k] >= 0x20 && b[k] <= 0x2f {
		k--
	}
	for k >= lowest && b[k] >= 0x30 && b[k] <= 0x3f {
		k--
	}
	if k-1 >= start && b[k] == '[' && b[k-1] == esc {
		return k - 1
	}
	return -1
}

func (n *normalizer) trimRight(start int) {
	i := len(n.out)
	for i > start && (n.out[i-1] == ' ' || n.out[i-1] == '\t') {
		i--
	}
	n.out = n.out[:i]
}

func trimLeftBlanks(b []byte) []byte {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	return b[i:]
}

// drop applies rules 5 and 6 to a non-empty, trimmed logical line.
func (n *normalizer) drop(line []byte) bool {
	body := trimLeftBlanks(line)
	if body[0] != '#' {
		n.inLeadBlock = false
		return false
	}
	if n.inLeadBlock && len(body) == len(line) && exportHeader.Match(line) {
		return true
	}
	for _, v := range VolatileComments {
		if v.Match(body) {
			return true
		}
	}
	return false
}
