package hostkey

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cfgsnap/cfgsnap/backend/sshtest"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	e := Entry{Tenant: "acme", Device: "core-rtr-1", Key: sshtest.NewPublicKey(t), Addr: "127.0.0.1:2222", At: at, By: "svc@w1"}
	b, err := Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode("acme", "core-rtr-1", b)
	if err != nil {
		t.Fatal(err)
	}
	if !SameKey(got.Key, e.Key) || got.Addr != e.Addr || !got.At.Equal(at) || got.By != e.By || got.Label() != "acme/core-rtr-1" {
		t.Fatalf("round trip: got %+v, want %+v", got, e)
	}
	if !strings.Contains(string(b), e.Fingerprint()) {
		t.Errorf("record %s does not show the fingerprint %s", b, e.Fingerprint())
	}
}

func TestDecodeRefusesWhatIsNotThisDevicesRecord(t *testing.T) {
	k := sshtest.NewPublicKey(t)
	good, err := Encode(Entry{Tenant: "acme", Device: "r1", Key: k})
	if err != nil {
		t.Fatal(err)
	}
	other := sshtest.NewPublicKey(t)
	swapKey := strings.Replace(string(good), sshtest.AuthorizedLine(k),
		sshtest.AuthorizedLine(other), 1)
	cases := map[string]struct {
		tenant, device, data, want string
	}{
		"garbage":             {"acme", "r1", "garbage", "not a host key record"},
		"empty":               {"acme", "r1", "", "not a host key record"},
		"other device":        {"acme", "r2", string(good), "the record is for acme/r1"},
		"other tenant":        {"globex", "r1", string(good), "the record is for acme/r1"},
		"key swapped":         {"acme", "r1", swapKey, "does not match the key"},
		"newer format":        {"acme", "r1", strings.Replace(string(good), `"v":1`, `"v":2`, 1), "record format 2"},
		"unknown field":       {"acme", "r1", strings.Replace(string(good), `{"v":1`, `{"trusted":true,"v":1`, 1), "unknown field"},
		"two records":         {"acme", "r1", string(good) + string(good), "data after the record"},
		"not a key":           {"acme", "r1", `{"v":1,"tenant":"acme","device":"r1","key":"ssh-ed25519 AAAA","fingerprint":"x"}`, "key:"},
		"key with options":    {"acme", "r1", strings.Replace(string(good), `"key":"`, `"key":"no-pty `, 1), "options"},
		"bad time":            {"acme", "r1", strings.Replace(string(good), `"fingerprint"`, `"at":"yesterday","fingerprint"`, 1), "time"},
		"foreign id in value": {"acme", "r1", strings.Replace(string(good), `"tenant":"acme"`, `"tenant":"a\nb"`, 1), "another device"},
		"too big":             {"acme", "r1", strings.Repeat(" ", maxValue+1), "more than a record"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(c.tenant, c.device, []byte(c.data))
			if !errors.Is(err, ErrUndecodable) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Decode = %v, want ErrUndecodable saying %q", err, c.want)
			}
		})
	}
}

func TestEncodeRefusesBadIDs(t *testing.T) {
	for _, e := range []Entry{{Tenant: "a.b", Device: "r1", Key: sshtest.NewPublicKey(t)}, {Tenant: "acme", Device: "", Key: sshtest.NewPublicKey(t)}, {Tenant: "acme", Device: "r1"}} {
		if _, err := Encode(e); err == nil {
			t.Errorf("Encode(%+v) accepted", e)
		}
	}
}

// FuzzDecode: whatever a bucket holds, Decode neither panics nor accepts a
// record that is not exactly this device's, and what it accepts encodes
// back to a record that decodes to the same key.
func FuzzDecode(f *testing.F) {
	good, err := Encode(Entry{Tenant: "acme", Device: "r1", Key: sshtest.NewPublicKey(f), Addr: "127.0.0.1:22", At: time.Unix(1700000000, 0), By: "w"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("garbage"))
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`{"v":1,"tenant":"acme","device":"r1","key":"ssh-rsa AAAA","fingerprint":""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Decode("acme", "r1", data)
		if err != nil {
			if !errors.Is(err, ErrUndecodable) {
				t.Fatalf("error %v does not wrap ErrUndecodable", err)
			}
			return
		}
		if e.Tenant != "acme" || e.Device != "r1" || e.Key == nil {
			t.Fatalf("accepted %+v", e)
		}
		again, err := Encode(e)
		if err != nil {
			t.Fatalf("accepted record does not encode: %v", err)
		}
		e2, err := Decode("acme", "r1", again)
		if err != nil || !SameKey(e2.Key, e.Key) {
			t.Fatalf("re-encoded record: %v", err)
		}
	})
}
