package routeros

import "strings"

// menuVerbs are the commands that end a menu path on a line such as the
// terse export's "/ip firewall filter add chain=input": the words before
// the verb are the menu, the rest is the command.
var menuVerbs = map[string]bool{
	"add": true, "set": true, "remove": true, "unset": true, "reset": true, "enable": true,
	"disable": true, "move": true, "comment": true, "print": true, "export": true, "edit": true,
	"find": true, "get": true, "run": true,
}

// MenuPath returns the menu path a line selects, and whether it selects
// one: "/ip firewall filter" for the section header "/ip firewall filter"
// and for the terse line "/ip firewall filter add chain=input". A line that
// does not start with '/' (an item, a comment, a blank) selects nothing and
// leaves the menu of the lines above it in effect.
func MenuPath(line string) (string, bool) {
	if !strings.HasPrefix(line, "/") {
		return "", false
	}
	rest := line[1:]
	words := 0
	end := 1
	for len(rest) > 0 {
		w := rest
		if i := strings.IndexAny(rest, " \t"); i >= 0 {
			w = rest[:i]
		}
		if w == "" {
			rest = rest[1:]
			continue
		}
		if menuVerbs[w] || !isMenuWord(w) {
			break
		}
		words++
		end = len(line) - len(rest) + len(w)
		rest = rest[len(w):]
	}
	if words == 0 {
		return "", false
	}
	// One space between words, so that "/ip  address" and "/ip address"
	// read as the same heading.
	return "/" + strings.Join(strings.Fields(line[1:end]), " "), true
}

// isMenuWord accepts the characters RouterOS menu names are made of.
func isMenuWord(w string) bool {
	for i := 0; i < len(w); i++ {
		c := w[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// Menus returns the menu path in effect at each of the logical lines (a
// normalised export's lines), "" before the first menu line.
func Menus(lines []string) []string {
	out := make([]string, len(lines))
	cur := ""
	for i, l := range lines {
		if m, ok := MenuPath(l); ok {
			cur = m
		}
		out[i] = cur
	}
	return out
}
