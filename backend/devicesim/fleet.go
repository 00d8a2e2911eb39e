package devicesim

import (
	"cmp"
	"slices"
	"strconv"
	"time"
)

// defaultTenants are the tenants of DefaultFleet, in display order.
var defaultTenants = []struct{ id, name string }{
	{"acme", "ACME Networks"},
	{"globex", "Globex Corp"},
	{"initech", "Initech"},
}

// roles are the kinds of device a tenant has, in the order its devices
// are numbered; the first is what "core-rtr-1" is.
var roles = []struct {
	prefix string
	models []string
}{
	{"core-rtr", []string{"CCR2004-16G-2S+", "CCR2116-12G-4S+", "CCR1036-8G-2S+"}},
	{"edge-rtr", []string{"RB4011iGS+", "RB5009UG+S+", "CCR2004-16G-2S+"}},
	{"ap-sw", []string{"CRS326-24G-2S+", "hAP ac2"}},
	{"pop1-br", []string{"CCR2004-16G-2S+", "CHR"}},
	{"branch-gw", []string{"hEX S", "RB5009UG+S+", "RB4011iGS+"}},
	{"dist-sw", []string{"CRS326-24G-2S+"}},
	{"pop2-br", []string{"CHR", "CCR1036-8G-2S+"}},
	{"cpe", []string{"hEX S", "hAP ac2"}},
}

var (
	versions6 = []string{"6.49.10", "6.49.13", "6.49.15", "6.49.17"}
	versions7 = []string{"7.10.1", "7.12.1", "7.14.3", "7.15.3", "7.16.2", "7.18.2", "7.19.4"}
)

// earlyV7 is the one pre-7.10 version of DefaultFleet: the old header date
// format on RouterOS 7.
const earlyV7 = "7.8"

// fixtureFiles are the real captures DefaultFleet serves as devices of
// globex, with the IDs they get.
var fixtureFiles = []struct{ id, name, file string }{
	{"capture-chr-1", "CHR 7.10.1 (real capture)", "routeros#CHR_7.10.1#simulation.yaml"},
	{"capture-chr-2", "CHR 7.16 (real capture)", "routeros#CHR_7.16#simulation.yaml"},
	{"capture-l009-1", "L009UiGS 7.15.2 (real capture)", "routeros#L009UiGS_7.15.2#simulation.yaml"},
}

// faultIDs name the lab devices of DefaultFleet(faulty) after what they do.
var faultIDs = map[Fault]string{
	FaultWrongPassword: "lab-badpass-1",
	FaultSlowHandshake: "lab-slowssh-1",
	FaultHangAfterAuth: "lab-hang-1",
	FaultSlowOutput:    "lab-slow-1",
	FaultDisconnect:    "lab-trunc-1",
	FaultNonZeroExit:   "lab-fail-1",
	FaultGarbage:       "lab-garbage-1",
	FaultRotateHostKey: "lab-rekey-1",
	FaultEndless:       "lab-endless-1",
	FaultSecretFail:    "lab-leak-1",
}

// DriftID is the DefaultFleet(faulty) device whose configuration changes
// every DefaultDriftEvery.
const (
	DriftID           = "lab-drift-1"
	DefaultDriftEvery = 2 * time.Minute
)

// DefaultFleet returns n devices over the tenants acme (ACME Networks),
// globex (Globex Corp) and initech (Initech). The first device of acme is
// "core-rtr-1". Versions mix RouterOS 6.49.x and 7.10+ with one 7.8; sizes
// are mostly 5-60 KB with two large ones (1.5 MB and 4 MB) once n is big
// enough. The three real captures the simulator carries (captures/) are
// globex devices. With faulty, there is one "lab-*"
// device per Fault and one that drifts. Fixtures and lab devices are
// included first, so a small n may hold only them and core-rtr-1.
func DefaultFleet(n int, faulty bool) []Spec {
	if n <= 0 {
		return nil
	}
	type entry struct {
		spec  Spec
		group int // 0 regular, 1 capture, 2 lab
		seq   int
	}
	var pick []entry
	add := func(s Spec, group int) {
		pick = append(pick, entry{s, group, len(pick)})
	}
	perTenant := make([]int, len(defaultTenants))
	normal := 0
	addNormal := func() {
		k := normal
		normal++
		t := k % len(defaultTenants)
		j := perTenant[t]
		perTenant[t]++
		add(regularSpec(k, t, j), 0)
	}
	addNormal()
	for _, fx := range fixtureFiles {
		add(Spec{Tenant: "globex", TenantName: "Globex Corp", ID: fx.id, Name: fx.name, Fixture: BuiltinCapture + fx.file}, 1)
	}
	if faulty {
		// The drift device comes first so that a small fleet (the demo's
		// --devices 14) keeps it as faults are added at the end of Faults.
		add(Spec{Tenant: "acme", TenantName: "ACME Networks", ID: DriftID, Version: "7.16.2",
			SizeBytes: 12 << 10, DriftEvery: DefaultDriftEvery}, 2)
		for i, fault := range Faults {
			t := defaultTenants[i%len(defaultTenants)]
			s := Spec{Tenant: t.id, TenantName: t.name, ID: faultIDs[fault], Fault: fault,
				Version: versions7[i%len(versions7)], SizeBytes: 30 << 10}
			if fault == FaultDisconnect || fault == FaultSlowOutput {
				s.SizeBytes = 40 << 10
			}
			add(s, 2)
		}
	}
	for len(pick) < n {
		addNormal()
	}
	pick = pick[:n]
	tenantIndex := func(id string) int {
		return slices.IndexFunc(defaultTenants, func(t struct{ id, name string }) bool { return t.id == id })
	}
	slices.SortStableFunc(pick, func(a, b entry) int {
		return cmp.Or(cmp.Compare(tenantIndex(a.spec.Tenant), tenantIndex(b.spec.Tenant)),
			cmp.Compare(a.group, b.group), cmp.Compare(a.seq, b.seq))
	})
	out := make([]Spec, len(pick))
	for i, e := range pick {
		out[i] = e.spec
	}
	return out
}

// regularSpec is the k-th healthy device of the fleet, the j-th of tenant t.
func regularSpec(k, t, j int) Spec {
	tn := defaultTenants[t]
	role := roles[j%len(roles)]
	id := role.prefix + "-" + strconv.Itoa(j/len(roles)+1)
	r := newRNG(hash64(tn.id, id), 9)
	model := role.models[r.intn(len(role.models))]
	var version string
	switch {
	case k == 4:
		version = earlyV7
	case r.intn(10) < 3 && !boardFor(model).v7Only:
		version = versions6[r.intn(len(versions6))]
	default:
		version = versions7[r.intn(len(versions7))]
	}
	size := (5 + r.intn(56)) << 10
	switch k {
	case 7:
		size = 1536 << 10
	case 13:
		size = 4 << 20
	}
	return Spec{Tenant: tn.id, TenantName: tn.name, ID: id, Version: version, Model: model, SizeBytes: size}
}
