package jetstream

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/api"
)

// Records are written compactly (issue 9 §4: an unchanged snapshot must add
// under 512 bytes to the stream): short keys behind a version marker, the
// hashes as base64 of their 32 bytes, the time as Unix nanoseconds, empty
// fields left out. Records written before, as the JSON of
// api.SnapshotRecord, are still read. Tenant and device stay in the record
// although the subject names them: a message whose record names another
// device than its subject is refused (validate.go).

// recordVersion marks a compact record; it is its first key.
const recordVersion = 2

type compactRecord struct {
	V            int         `json:"v"`
	SnapshotID   string      `json:"i"`
	TenantID     string      `json:"t"`
	DeviceID     string      `json:"d"`
	SHA256       string      `json:"h"`
	PreviousHash string      `json:"p,omitempty"`
	CollectedAt  int64       `json:"c"`
	SizeBytes    int64       `json:"s,omitempty"`
	Changed      bool        `json:"x,omitempty"`
	Trigger      api.Trigger `json:"g,omitempty"`
	RequestedBy  string      `json:"r,omitempty"`
	Reason       string      `json:"w,omitempty"`
	RouterOS     string      `json:"o,omitempty"`
	Norm         int         `json:"n,omitempty"`
	DurationMS   int64       `json:"ms,omitempty"`
}

var compactMark = []byte(`{"v":2,`)

// encodeRecord returns the message body of r. Pins are not part of it:
// they live in the pin bucket.
func encodeRecord(r api.SnapshotRecord) ([]byte, error) {
	h, err := hashBytes(r.SHA256)
	if err != nil {
		return nil, err
	}
	c := compactRecord{V: recordVersion, SnapshotID: r.SnapshotID, TenantID: r.TenantID, DeviceID: r.DeviceID,
		SHA256: h, CollectedAt: r.CollectedAt.UnixNano(), SizeBytes: r.SizeBytes, Changed: r.Changed,
		Trigger: r.Trigger, RequestedBy: r.RequestedBy, Reason: r.Reason, RouterOS: r.RouterOSVersion,
		Norm: r.NormalizationVersion, DurationMS: r.DurationMS}
	if r.PreviousHash != "" {
		if c.PreviousHash, err = hashBytes(r.PreviousHash); err != nil {
			return nil, err
		}
	}
	return json.Marshal(c)
}

func hashBytes(sum string) (string, error) {
	b, err := hex.DecodeString(sum)
	if err != nil || len(b) != 32 {
		return "", fmt.Errorf("hash %q is not a sha256", clip(sum))
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func hashHex(enc string) (string, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	if err != nil || len(b) != 32 {
		return "", fmt.Errorf("hash %q is not a sha256", clip(enc))
	}
	return hex.EncodeToString(b), nil
}

// unmarshalRecord reads a message body in either encoding; decodeRecord
// checks the result.
func unmarshalRecord(data []byte) (api.SnapshotRecord, error) {
	if !bytes.HasPrefix(data, compactMark) {
		var r api.SnapshotRecord
		err := json.Unmarshal(data, &r)
		return r, err
	}
	var c compactRecord
	if err := json.Unmarshal(data, &c); err != nil {
		return api.SnapshotRecord{}, err
	}
	if c.V != recordVersion {
		return api.SnapshotRecord{}, fmt.Errorf("record version %d", c.V)
	}
	r := api.SnapshotRecord{SnapshotID: c.SnapshotID, TenantID: c.TenantID, DeviceID: c.DeviceID,
		CollectedAt: time.Unix(0, c.CollectedAt).UTC(), SizeBytes: c.SizeBytes, Changed: c.Changed,
		Trigger: c.Trigger, RequestedBy: c.RequestedBy, Reason: c.Reason, RouterOSVersion: c.RouterOS,
		NormalizationVersion: c.Norm, DurationMS: c.DurationMS}
	var err error
	if r.SHA256, err = hashHex(c.SHA256); err != nil {
		return api.SnapshotRecord{}, err
	}
	if c.PreviousHash != "" {
		if r.PreviousHash, err = hashHex(c.PreviousHash); err != nil {
			return api.SnapshotRecord{}, err
		}
	}
	return r, nil
}
