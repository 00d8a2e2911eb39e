// Package search answers fleet-wide questions about stored configurations:
// which devices' latest snapshots have lines matching a regular expression
// (Search), and which devices' configurations changed in a window
// (Changes).
//
// The index is built for fleets whose devices share most of their lines
// (defaults, templates, common firewall rules): each distinct line is
// stored once in an arena ("interned"), each distinct configuration
// (content hash) is a sequence of line IDs, and devices map to hashes. A
// search runs the regular expression once per distinct line, on candidate
// lines only when the pattern has a literal that every match must contain
// (found with regexp/syntax and located with a byte scan of the arena), and
// then walks the sequences of the devices in scope. The index is keyed by
// content hash, so a new snapshot adds one hash; hashes no device points
// at any more are dropped, and the arena is rebuilt from memory once most
// of its lines are dead.
//
// Redaction: each line also has its redacted form (redact.Line), interned
// the same way. Without secrets a pattern is matched against the redacted
// lines only, so it cannot be used to probe a secret's value.
package search

import (
	"hash/maphash"
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/cfgsnap/cfgsnap/backend/redact"
	"github.com/cfgsnap/cfgsnap/backend/routeros"
)

// chunkSize is the arena's allocation unit. Chunks are never reallocated
// (the interned strings point into them) and are scanned in parallel.
const chunkSize = 1 << 20

// Line flags.
const (
	flagRaw  uint8 = 1 << iota // the line is a stored line of some configuration
	flagRed                    // the line is the redacted view of a line of some configuration
	flagMenu                   // the line selects a menu (routeros.MenuPath)
	flagWide                   // the line has non-ASCII bytes
)

// chunk is a run of interned lines, each followed by '\n'; its lines have
// the consecutive IDs first, first+1, ...
type chunk struct {
	data   []byte
	first  uint32
	starts []uint32 // offset of each line in data
}

// override says that the redacted view of a configuration's line pos is
// the line id rather than the stored line.
type override struct{ pos, id uint32 }

// doc is one distinct configuration.
type doc struct {
	seq []uint32   // line IDs of the stored text
	red []override // positions whose redacted view differs, ascending
}

// index is the interned form of a set of configurations. It is built and
// changed under the Engine's write lock and read under its read lock.
type index struct {
	chunks []*chunk
	lines  []string // by ID; the strings point into the chunks
	flags  []uint8
	redOf  []uint32 // redacted view of each line in a menu without menu-specific rules
	// slots finds a line's ID by the maphash of its text: an open
	// addressing table (linear probing, at most half full) whose slots
	// hold the hash's high 32 bits and ID+1 (0: empty). A hit is checked
	// against the text, so lines whose hashes collide are told apart by
	// probing on. One probe reads one word (a Go map reads more, and this
	// lookup is most of a cold start); the table holds no pointers for the
	// collector, and the hashes are computed by the parallel loaders.
	seed  maphash.Seed
	mask  uint64 // all ones; tests narrow it to force collisions
	slots []uint64
	docs  map[string]*doc
	freq  [256]uint64 // byte counts of the arena, to pick a rare byte to scan for
	wide  []uint32    // lines with non-ASCII bytes (case folding reaches them beyond ASCII)
	// refs counts the line positions of the live docs; dead those of
	// docs dropped since the last rebuild.
	refs, dead int
}

func newIndex() *index {
	return &index{seed: maphash.MakeSeed(), mask: ^uint64(0), docs: map[string]*doc{}}
}

// hash is the key of line in ids.
func (x *index) hash(line string) uint64 { return maphash.String(x.seed, line) & x.mask }

// lookup returns the ID of line, whose hash is h, when it is interned.
func (x *index) lookup(line string, h uint64) (uint32, bool) {
	if len(x.slots) == 0 {
		return 0, false
	}
	m := uint64(len(x.slots) - 1)
	tag := h >> 32
	for i := h & m; ; i = (i + 1) & m {
		v := x.slots[i]
		if v == 0 {
			return 0, false
		}
		if v>>32 == tag {
			if id := uint32(v) - 1; x.lines[id] == line {
				return id, true
			}
		}
	}
}

// place records in slots that the line with hash h has ID id.
func (x *index) place(h uint64, id uint32) {
	m := uint64(len(x.slots) - 1)
	for i := h & m; ; i = (i + 1) & m {
		if x.slots[i] == 0 {
			x.slots[i] = h>>32<<32 | uint64(id+1)
			return
		}
	}
}

// reserve makes room in slots for one more line, keeping the table at
// most half full (short probe runs).
func (x *index) reserve() {
	if 2*(len(x.lines)+1) <= len(x.slots) {
		return
	}
	x.slots = make([]uint64, max(1<<10, 2*len(x.slots)))
	for id, l := range x.lines {
		x.place(x.hash(l), uint32(id))
	}
}

// intern returns the ID of line, whose hash is h, adding it to the arena
// when new, with red (redacted(line), computed by the caller outside the
// write lock) as its redacted view.
func (x *index) intern(line string, h uint64, red string) uint32 {
	if id, ok := x.lookup(line, h); ok {
		return id
	}
	id := x.add(line, h)
	if red == line {
		x.redOf[id] = id
	} else {
		x.redOf[id] = x.internPlain(red)
	}
	return id
}

// internPlain interns a line that is itself a redacted view: its own
// redacted view is itself (masks do not mask again).
func (x *index) internPlain(line string) uint32 {
	h := x.hash(line)
	if id, ok := x.lookup(line, h); ok {
		return id
	}
	id := x.add(line, h)
	x.redOf[id] = id
	return id
}

func (x *index) add(line string, h uint64) uint32 {
	x.reserve()
	var c *chunk
	if n := len(x.chunks); n > 0 && len(x.chunks[n-1].data)+len(line)+1 <= cap(x.chunks[n-1].data) {
		c = x.chunks[n-1]
	} else {
		c = &chunk{data: make([]byte, 0, max(chunkSize, len(line)+1)), first: uint32(len(x.lines))}
		x.chunks = append(x.chunks, c)
	}
	off := len(c.data)
	c.data = append(c.data, line...)
	c.data = append(c.data, '\n')
	c.starts = append(c.starts, uint32(off))
	// The string shares the chunk's memory: the chunk never grows past its
	// capacity, so the bytes never move.
	s := unsafeString(c.data[off : off+len(line)])
	id := uint32(len(x.lines))
	x.lines = append(x.lines, s)
	var f uint8
	if _, ok := routeros.MenuPath(s); ok {
		f |= flagMenu
	}
	wide := false
	for i := 0; i < len(s); i++ {
		b := s[i]
		x.freq[b]++
		if b >= utf8.RuneSelf {
			wide = true
		}
	}
	if wide {
		f |= flagWide
		x.wide = append(x.wide, id)
	}
	x.flags = append(x.flags, f)
	x.redOf = append(x.redOf, 0)
	x.place(h, id)
	return id
}

// pending is a line of a prepared configuration that only the write lock
// can place: new to the index, or whose flags or redacted view need an
// update.
type pending struct {
	pos        uint32
	start, end uint32 // the line is text[start:end]
	hash       uint64
	// red is the line's redacted view: by the rules of its menu when the
	// menu has rules of its own, else by the generic ones.
	red     string
	special bool // the menu has rules of its own (redact.MenuKeys)
}

// prepared is a configuration split into lines and resolved against the
// index as far as a read lock allows: the loaders do this in parallel, so
// that the serial part (finish) only handles the lines the index lacks.
type prepared struct {
	hash string
	text string
	doc  *doc
	todo []pending
}

// prepare splits text (a configuration whose content hash is hash) into
// lines and resolves those the index has already, read-only: callers hold
// at least the read lock. Lines end at '\n'; a final '\n' ends the last
// line (textdiff.SplitLines).
func (x *index) prepare(hash, text string) *prepared {
	p := &prepared{hash: hash, text: text, doc: &doc{}}
	if text == "" {
		return p
	}
	body := strings.TrimSuffix(text, "\n")
	p.doc.seq = make([]uint32, 0, strings.Count(body, "\n")+1)
	menu, special := "", false
	for start := 0; start <= len(body); {
		end := strings.IndexByte(body[start:], '\n')
		if end < 0 {
			end = len(body)
		} else {
			end += start
		}
		l := body[start:end]
		pos := uint32(len(p.doc.seq))
		if len(l) > 0 && l[0] == '/' {
			if m, ok := routeros.MenuPath(l); ok {
				menu, special = m, redact.MenuKeys[m] != nil
			}
		}
		h := x.hash(l)
		id, ok := x.lookup(l, h)
		// A line is resolved here when finish would change nothing but
		// this doc: it is known as a stored line, its redacted view is
		// known as one, and its menu has no rules of its own (those lines
		// are redacted in context, in finish).
		if ok && !special && x.flags[id]&flagRaw != 0 && x.flags[x.redOf[id]]&flagRed != 0 {
			if rid := x.redOf[id]; rid != id {
				p.doc.red = append(p.doc.red, override{pos, rid})
			}
		} else {
			// The redacted view is computed here, in parallel, so that
			// the write lock is held for the interning only.
			t := pending{pos: pos, start: uint32(start), end: uint32(end), hash: h, special: special}
			if special {
				t.red = redact.Line(menu, l)
			} else {
				t.red = redacted(l)
			}
			p.todo = append(p.todo, t)
		}
		p.doc.seq = append(p.doc.seq, id)
		start = end + 1
	}
	return p
}

// finish places the lines prepare left and adds the configuration; it
// needs the write lock.
func (x *index) finish(p *prepared) {
	if _, ok := x.docs[p.hash]; ok {
		return
	}
	d := p.doc
	reds := len(d.red)
	for _, t := range p.todo {
		l := p.text[t.start:t.end]
		var id, rid uint32
		// A few menus have rules of their own (an SNMP community's name is
		// its password): their lines are redacted in context.
		if t.special {
			id = x.intern(l, t.hash, redacted(l))
			rid = x.internPlain(t.red)
		} else {
			id = x.intern(l, t.hash, t.red)
			rid = x.redOf[id]
		}
		d.seq[t.pos] = id
		x.flags[id] |= flagRaw
		x.flags[rid] |= flagRed
		if rid != id {
			d.red = append(d.red, override{t.pos, rid})
		}
	}
	if len(d.red) > reds && reds > 0 {
		slices.SortFunc(d.red, func(a, b override) int { return int(a.pos) - int(b.pos) })
	}
	x.docs[p.hash] = d
	x.refs += len(d.seq)
}

// addDoc interns a configuration's lines under hash.
func (x *index) addDoc(hash string, lines []string) {
	if _, ok := x.docs[hash]; ok {
		return
	}
	var text string
	if len(lines) > 0 {
		text = strings.Join(lines, "\n") + "\n"
	}
	x.finish(x.prepare(hash, text))
}

// dropDoc forgets a configuration; its lines stay in the arena until the
// next rebuild.
func (x *index) dropDoc(hash string) {
	if d, ok := x.docs[hash]; ok {
		delete(x.docs, hash)
		x.refs -= len(d.seq)
		x.dead += len(d.seq)
	}
}

// rebuilt returns a new index of the live docs, built from the lines in
// memory (no store reads): it frees the lines only dropped docs used.
func (x *index) rebuilt() *index {
	y := newIndex()
	y.seed, y.mask = x.seed, x.mask
	lines := []string{}
	for h, d := range x.docs {
		lines = lines[:0]
		for _, id := range d.seq {
			lines = append(lines, x.lines[id])
		}
		y.addDoc(h, lines)
	}
	return y
}

// text returns a doc's line IDs in the given view: stored, or redacted.
func (x *index) view(d *doc, secrets bool) []uint32 {
	if secrets || len(d.red) == 0 {
		return d.seq
	}
	out := make([]uint32, len(d.seq))
	copy(out, d.seq)
	for _, o := range d.red {
		out[o.pos] = o.id
	}
	return out
}

// menuAt returns the menu path in effect at line pos of d.
func (x *index) menuAt(d *doc, pos int) string {
	for i := pos; i >= 0; i-- {
		id := d.seq[i]
		if x.flags[id]&flagMenu != 0 {
			m, _ := routeros.MenuPath(x.lines[id])
			return m
		}
	}
	return ""
}

// lineOf returns the ID of the line at byte offset off of chunk c.
func (c *chunk) lineOf(off int) uint32 {
	lo, hi := 0, len(c.starts)
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if int(c.starts[mid]) <= off {
			lo = mid
		} else {
			hi = mid
		}
	}
	return c.first + uint32(lo)
}

// end returns the offset just after line k (relative) of c, past its '\n'.
func (c *chunk) end(k int) int {
	if k+1 < len(c.starts) {
		return int(c.starts[k+1])
	}
	return len(c.data)
}

// redacted returns line's redacted view outside the menus of
// redact.MenuKeys.
func redacted(line string) string {
	if mayHaveSecret(line) {
		return redact.Line("", line)
	}
	return line
}

// mayHaveSecret reports whether redact.Line might mask something in line
// outside the menus of redact.MenuKeys: every rule needs a secret key
// before an "=" (redact.IsSecret) or a URL. Most lines have neither, and
// skipping them makes indexing several times faster.
func mayHaveSecret(line string) bool {
	// A terse line names its own menu, maybe one of MenuKeys.
	if strings.HasPrefix(line, "/") || strings.Contains(line, "://") {
		return true
	}
	for i := 0; i < len(line); i++ {
		if line[i] != '=' {
			continue
		}
		j := i
		for j > 0 && isKeyChar(line[j-1]) {
			j--
		}
		if j < i && redact.IsSecret("", line[j:i]) {
			return true
		}
	}
	return false
}

func isKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}

func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
