package main

import (
	"slices"
	"strings"

	"github.com/cfgsnap/cfgsnap/backend/inventory"
)

// nearest returns up to three candidates close to name, closest first: a
// typo of it (the inventory's edit distance, Levenshtein plus swapped
// neighbours, within a third of its length and at least 2) or one that
// contains it.
func nearest(name string, candidates []string) []string {
	type scored struct {
		s string
		d int
	}
	limit := max(2, len(name)/3)
	var out []scored
	for _, c := range candidates {
		d := inventory.EditDistance(strings.ToLower(name), strings.ToLower(c))
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
