package inventory

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Problem is one mistake (or, among warnings, one risk) in an inventory
// file.
type Problem struct {
	File string
	Line int // 0 when the YAML library gave no line
	Msg  string
}

func (p Problem) String() string {
	if p.Line <= 0 {
		return p.File + ": " + p.Msg
	}
	return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
}

// ValidationError lists every problem of an inventory that was refused.
type ValidationError struct {
	Problems []Problem
}

func newValidationError(ps []Problem) *ValidationError {
	ps = slices.Clone(ps)
	// Stable, so that problems on one line keep the order they were found in.
	slices.SortStableFunc(ps, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
	return &ValidationError{Problems: ps}
}

// Error returns one "FILE:LINE: message" line per problem, in line order.
func (e *ValidationError) Error() string {
	return strings.Join(problemLines(e.Problems), "\n")
}

func problemLines(ps []Problem) []string {
	if len(ps) == 0 {
		return nil
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// suggest returns the known key that key was most likely meant to be, or
// "" when none is close enough to be an obvious typo.
func suggest(key string, known []string) string {
	norm := strings.ToLower(strings.ReplaceAll(key, "-", "_"))
	best, bestDist := "", 1<<30
	for _, k := range known {
		if norm == k {
			return k
		}
		if d := editDistance(norm, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	// A third of the word, at least one edit and at most three: "hots" is
	// host, "devices" is not defaults.
	limit := min(max(len(best)/3, 1), 3)
	if bestDist <= limit {
		return best
	}
	return ""
}

// EditDistance is editDistance, for the CLI's "did you mean" about device
// and tenant IDs and config keys.
func EditDistance(a, b string) int { return editDistance(a, b) }

// editDistance is the optimal-string-alignment distance (Levenshtein plus
// swapping two neighbours, the commonest typo) counted in bytes; keys are
// ASCII and short.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30 // nobody mistypes a key that badly; keep the cost bounded
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
