package devicesim

// RouterOS wraps export lines for an 80-column console. Measured on the real
// captures: a line's content (indent included, continuation backslash
// excluded) stays within 77 columns, except that a break after a space may
// keep that space (78 columns, 79 with the backslash). Breaks are preferred
// between attributes or right after "name=", latest first; a token longer
// than a whole line is cut anywhere. Continuations are indented by 4 spaces.
//
// Normalisation (docs/normalization.md rule 3) joins a line ending in `\`
// with the next one minus its leading blanks, so a break is only allowed
// where the next piece does not start with a blank (the blank would be lost)
// and the piece does not end in a backslash (it would read as an escape).
const (
	wrapWidth  = 77
	wrapIndent = "    "
)

// wrapPieces returns the offsets in s where RouterOS would break it; nil when
// s fits on one line. Comment lines are never wrapped.
func wrapPieces(s string) []int {
	if len(s) <= wrapWidth || s[0] == '#' {
		return nil
	}
	var cuts []int
	start, indent := 0, 0
	var q quoteState
	for {
		avail := wrapWidth - indent
		if len(s)-start <= avail {
			return cuts
		}
		b := preferredBreak(s, start, avail, q)
		if b < 0 {
			b = hardBreak(s, start, avail)
		}
		if b < 0 {
			return cuts // nothing safe to cut at: leave the rest long
		}
		q = q.advance(s, start, b)
		cuts = append(cuts, b)
		start, indent = b, len(wrapIndent)
	}
}

// preferredBreak is the last attribute boundary (after a space or after
// "name=", outside quotes) that fits in avail columns from start.
func preferredBreak(s string, start, avail int, q quoteState) int {
	best := -1
	for i := start; i < len(s)-1 && i-start <= avail; i++ {
		c, before := s[i], q
		q = q.step(c)
		if before.inQuote || before.escaped || q.inQuote || isBlank(s[i+1]) {
			continue
		}
		switch {
		case c == ' ' && i > start:
			best = i + 1
		case c == '=' && i+1-start <= avail:
			best = i + 1
		}
	}
	return best
}

// hardBreak cuts a token that is longer than a line (a long quoted script
// source, say), as RouterOS does, at the last safe column; failing that at
// the first safe column after it.
func hardBreak(s string, start, avail int) int {
	ok := func(b int) bool { return !isBlank(s[b]) && s[b-1] != '\\' }
	for b := min(start+avail, len(s)-1); b > start; b-- {
		if ok(b) {
			return b
		}
	}
	for b := start + avail + 1; b < len(s); b++ {
		if ok(b) {
			return b
		}
	}
	return -1
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// quoteState tracks RouterOS double quotes with backslash escapes.
type quoteState struct{ inQuote, escaped bool }

func (q quoteState) step(c byte) quoteState {
	switch {
	case q.escaped:
		q.escaped = false
	case c == '\\':
		q.escaped = true
	case c == '"':
		q.inQuote = !q.inQuote
	}
	return q
}

func (q quoteState) advance(s string, from, to int) quoteState {
	for i := from; i < to; i++ {
		q = q.step(s[i])
	}
	return q
}

// appendWrapped appends s as RouterOS prints it: wrapped, CRLF line ends.
func appendWrapped(dst []byte, s string) []byte {
	cuts := wrapPieces(s)
	prev := 0
	for i, c := range cuts {
		if i > 0 {
			dst = append(dst, wrapIndent...)
		}
		dst = append(dst, s[prev:c]...)
		dst = append(dst, '\\', '\r', '\n')
		prev = c
	}
	if len(cuts) > 0 {
		dst = append(dst, wrapIndent...)
	}
	dst = append(dst, s[prev:]...)
	return append(dst, '\r', '\n')
}
