package main

import (
	"slices"
	"strings"
)

// levenshtein is the edit distance between a and b (insertions, deletions,
// substitutions of bytes): IDs and keys are ASCII.
func levenshtein(a, b string) int {
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
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// nearest returns up to three candidates close to name (a typo of it: an
// edit distance within a third of its length, at least 2, or one contains
// the other), closest first.
func nearest(name string, candidates []string) []string {
	type scored struct {
		s string
		d int
	}
	limit := max(2, len(name)/3)
	var out []scored
	for _, c := range candidates {
		d := levenshtein(strings.ToLower(name), strings.ToLower(c))
		if d <= limit || (len(name) >= 3 && strings.Contains(c, name)) {
			out = append(out, scored{c, d})
		}
	}
	slices.SortStableFunc(out, func(a, b scored) int { return a.d - b.d })
	var names []string
	for i := 0; i < len(out) && i < 3; i++ {
		names = append(names, out[i].s)
	}
	return names
}

// didYouMean is " (did you mean a, b?)" for the nearest candidates, or "".
func didYouMean(name string, candidates []string) string {
	n := nearest(name, candidates)
	if len(n) == 0 {
		return ""
	}
	return " (did you mean " + strings.Join(n, ", ") + "?)"
}
