package search

import (
	"bytes"
	"regexp/syntax"
	"unicode/utf8"
)

// lit is a literal every match contains (one of a set of alternatives).
type lit struct {
	s    string
	fold bool // ASCII case-insensitive
}

// maxAlts bounds the alternatives of a prefilter; more are not worth the
// scans.
const maxAlts = 16

// required returns literals of which every match of re contains at least
// one, or false when it cannot tell (then every line is a candidate).
func required(re *syntax.Regexp) ([]lit, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		return literal(re.Rune, re.Flags&syntax.FoldCase != 0)
	case syntax.OpCapture, syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return required(re.Sub[0])
		}
	case syntax.OpAlternate:
		var out []lit
		for _, s := range re.Sub {
			ls, ok := required(s)
			if !ok {
				return nil, false
			}
			out = append(out, ls...)
			if len(out) > maxAlts {
				return nil, false
			}
		}
		return out, len(out) > 0
	case syntax.OpConcat:
		var best []lit
		consider := func(ls []lit, ok bool) {
			if ok && score(ls) > score(best) {
				best = ls
			}
		}
		// Adjacent literals of the same case mode make one longer literal.
		var run []rune
		runFold := false
		flush := func() {
			if len(run) > 0 {
				consider(literal(run, runFold))
				run = nil
			}
		}
		for _, s := range re.Sub {
			if s.Op == syntax.OpLiteral {
				fold := s.Flags&syntax.FoldCase != 0
				if len(run) > 0 && fold != runFold {
					flush()
				}
				runFold = fold
				run = append(run, s.Rune...)
				continue
			}
			flush()
			consider(required(s))
		}
		flush()
		return best, best != nil
	}
	return nil, false
}

// literal makes a lit of runes. A case-insensitive literal must be ASCII:
// the scan folds ASCII only (lines with other bytes are always checked).
func literal(rs []rune, fold bool) ([]lit, bool) {
	if len(rs) == 0 {
		return nil, false
	}
	if fold {
		hasLetter := false
		for _, r := range rs {
			if r >= utf8.RuneSelf {
				return nil, false
			}
			if 'a' <= r|0x20 && r|0x20 <= 'z' {
				hasLetter = true
			}
		}
		fold = hasLetter
	}
	return []lit{{s: string(rs), fold: fold}}, true
}

// score is the shortest alternative's length: the longer the literals,
// the fewer candidates the scan yields.
func score(ls []lit) int {
	if len(ls) == 0 {
		return 0
	}
	m := len(ls[0].s)
	for _, l := range ls[1:] {
		m = min(m, len(l.s))
	}
	// Each alternative costs a scan of its own.
	return m*4 - len(ls)
}

// scanner finds a literal's occurrences in a chunk.
type scanner struct {
	l      lit
	needle []byte
	// For a case-insensitive literal: the position of its rarest byte in
	// the arena and that byte's two cases.
	at         int
	low, upper byte
}

func newScanner(l lit, freq *[256]uint64) *scanner {
	sc := &scanner{l: l, needle: []byte(l.s)}
	if !l.fold {
		return sc
	}
	best := uint64(1<<64 - 1)
	for i := 0; i < len(sc.needle); i++ {
		lo, up := lower(sc.needle[i]), upper(sc.needle[i])
		n := freq[lo]
		if up != lo {
			n += freq[up]
		}
		if n < best {
			best, sc.at, sc.low, sc.upper = n, i, lo, up
		}
	}
	return sc
}

// each calls fn with the offset in data of each occurrence, in order.
// fn returns where to resume (past the line of the occurrence).
func (sc *scanner) each(data []byte, fn func(off int) int) {
	if !sc.l.fold {
		for pos := 0; pos < len(data); {
			i := bytes.Index(data[pos:], sc.needle)
			if i < 0 {
				return
			}
			pos = fn(pos + i)
		}
		return
	}
	n := len(sc.needle)
	nextLo, nextUp := -1, -1
	for pos := sc.at; pos < len(data); {
		// Next occurrence of either case of the rarest byte at or after pos.
		if nextLo < pos {
			nextLo = indexFrom(data, sc.low, pos)
		}
		if sc.upper == sc.low {
			nextUp = nextLo
		} else if nextUp < pos {
			nextUp = indexFrom(data, sc.upper, pos)
		}
		c := nextLo
		if c < 0 || (nextUp >= 0 && nextUp < c) {
			c = nextUp
		}
		if c < 0 {
			return
		}
		start := c - sc.at
		if start >= 0 && start+n <= len(data) && equalFoldASCII(data[start:start+n], sc.needle) {
			pos = max(fn(start)+sc.at, c+1)
			continue
		}
		pos = c + 1
	}
}

func indexFrom(data []byte, b byte, from int) int {
	if from >= len(data) {
		return -1
	}
	i := bytes.IndexByte(data[from:], b)
	if i < 0 {
		return -1
	}
	return from + i
}

func lower(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

func upper(b byte) byte {
	if 'a' <= b && b <= 'z' {
		return b - ('a' - 'A')
	}
	return b
}

func equalFoldASCII(a, b []byte) bool {
	for i := range a {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}
