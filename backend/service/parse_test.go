package service

import (
	"strings"
	"testing"

	"github.com/cfgsnap/cfgsnap/backend/api"
)

func TestParseTrigger(t *testing.T) {
	for _, c := range []struct {
		tenant, body string
		kind         api.ErrorKind // "" = accepted
		msg          string
	}{
		{"acme", `{"device_id":"core-rtr-1"}`, "", ""},
		{"acme", `{"device_id":"core-rtr-1","tenant_id":"acme","requested_by":"ops","reason":"CHG-1","extra":[1]}`, "", ""},
		{"acme", `{"device_id":"core-rtr-1","tenant_id":"globex"}`, api.KindNotFound, "device core-rtr-1 not found in tenant acme"},
		{"acme", `{}`, api.KindBadRequest, "device_id is required"},
		{"acme", `{"device_id":7}`, api.KindBadRequest, "device_id must be a string, not a JSON number"},
		{"acme", `7`, api.KindBadRequest, "a JSON number is not an object"},
		{"acme", ``, api.KindBadRequest, "unexpected end of JSON input"},
		{"acme", `{"device_id":"a b"}`, api.KindBadRequest, `invalid device ID "a b"`},
		{"ac*me", `{"device_id":"core-rtr-1"}`, api.KindBadRequest, `invalid tenant ID "ac*me"`},
		{"acme", `{"device_id":"core-rtr-1","reason":"` + strings.Repeat("r", maxReason+1) + `"}`, api.KindBadRequest, "reason"},
	} {
		req, err := parseTrigger(c.tenant, []byte(c.body))
		if c.kind == "" {
			if err != nil || req.TenantID != c.tenant || req.DeviceID != "core-rtr-1" || req.Trigger != api.TriggerManual {
				t.Errorf("%s %s: %+v %v", c.tenant, c.body, req, err)
			}
			continue
		}
		if api.KindOf(err) != c.kind || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s %.60s: %v (%s), want %s containing %q", c.tenant, c.body, err, api.KindOf(err), c.kind, c.msg)
		}
	}
}

// FuzzTriggerDecoders: any subject token and payload either yields a
// request whose IDs are safe subject tokens or a bad_request/not_found
// error; nothing panics.
func FuzzTriggerDecoders(f *testing.F) {
	for _, s := range []string{`{"device_id":"core-rtr-1","tenant_id":"acme"}`, `{"device_id":"x.y"}`, `null`, `[`, "\xff",
		`{"device_id":"core-rtr-1","tenant_id":"acme","reason":null}`, `{"device_id":"` + strings.Repeat("é", 40) + `"}`} {
		f.Add("acme", []byte(s))
	}
	f.Add("a.b", []byte(`{"device_id":"r1"}`))
	f.Fuzz(func(t *testing.T, tenant string, data []byte) {
		for _, decode := range []func() (string, string, error){
			func() (string, string, error) {
				r, err := parseTrigger(tenant, data)
				return r.TenantID, r.DeviceID, err
			},
			func() (string, string, error) { r, err := parseCompat(data); return r.TenantID, r.DeviceID, err },
		} {
			tn, dev, err := decode()
			if err != nil {
				if k := api.KindOf(err); k != api.KindBadRequest && k != api.KindNotFound {
					t.Fatalf("error of kind %s: %v", k, err)
				}
				continue
			}
			if !api.ValidID(tn) || !api.ValidID(dev) {
				t.Fatalf("accepted unsafe IDs %q/%q", tn, dev)
			}
		}
	})
}
