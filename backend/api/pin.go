package api

// PinRequest asks cfgsnap.snapshot.pin.<tenant> to pin (Pinned true) or
// unpin a device's snapshot. Ref is "latest", a sha256 or a unique prefix
// of 7 or more hex digits, as in GetRequest. The reply is the
// SnapshotRecord with its pin fields, or an error reply.
type PinRequest struct {
	DeviceID string `json:"device_id"`
	Ref      string `json:"sha256_hash"`
	Pinned   bool   `json:"pinned"`
	Note     string `json:"pin_note,omitempty"`
}

// MaxPinNote bounds a pin's note, in bytes.
const MaxPinNote = 1024
