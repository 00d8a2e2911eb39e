package store

import "strings"

// crockford is the ULID alphabet of api.NewID.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// validULID reports whether id has the shape of api.NewID's IDs, whose
// string order is their time order; History relies on that order.
func validULID(id string) bool {
	if len(id) != 26 || id[0] > '7' {
		return false
	}
	for i := 0; i < len(id); i++ {
		if strings.IndexByte(crockford, id[i]) < 0 {
			return false
		}
	}
	return true
}

// nextULID returns the smallest ULID greater than id. Record uses it when a
// freshly made ID does not sort after the device's latest one: another
// process made that one within the same millisecond (IDs are monotonic only
// within a process) or the clock stepped back.
func nextULID(id string) (string, bool) {
	if !validULID(id) {
		return "", false
	}
	b := []byte(id)
	for i := len(b) - 1; i >= 0; i-- {
		d := strings.IndexByte(crockford, b[i])
		if d < len(crockford)-1 {
			b[i] = crockford[d+1]
			return string(b), validULID(string(b))
		}
		b[i] = crockford[0]
	}
	return "", false
}
