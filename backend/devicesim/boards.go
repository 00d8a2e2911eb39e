package devicesim

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// board is the hardware a simulated device claims to be. The numbers feed
// `/system resource print`; the ports feed the export's interface sections.
type board struct {
	name     string // board-name, what Spec.Model names
	model    string // what the export header's "# model =" line shows
	arch     string
	cpu      string
	cpuCount int
	cpuMHz   int
	memMiB   int
	hddMiB   int
	ether    int // ether1..etherN
	sfp      []string
	wireless bool // has a wlan1 with a security profile
	v7Only   bool // shipped after RouterOS 6 went long-term only
	flash    bool // NAND/eMMC boards print bad-blocks
}

var boards = []board{
	{name: "CCR2004-16G-2S+", model: "CCR2004-16G-2S+", arch: "arm64", cpu: "ARM64", cpuCount: 4, cpuMHz: 1700, memMiB: 4096, hddMiB: 128, ether: 16, sfp: []string{"sfp-sfpplus1", "sfp-sfpplus2"}, flash: true},
	{name: "CCR2116-12G-4S+", model: "CCR2116-12G-4S+", arch: "arm64", cpu: "ARM64", cpuCount: 16, cpuMHz: 2000, memMiB: 16384, hddMiB: 128, ether: 13, sfp: []string{"sfp-sfpplus1", "sfp-sfpplus2", "sfp-sfpplus3", "sfp-sfpplus4"}, v7Only: true, flash: true},
	{name: "CCR1036-8G-2S+", model: "CCR1036-8G-2S+", arch: "tile", cpu: "tilegx", cpuCount: 36, cpuMHz: 1200, memMiB: 4096, hddMiB: 1024, ether: 8, sfp: []string{"sfp-sfpplus1", "sfp-sfpplus2"}, flash: true},
	{name: "RB4011iGS+", model: "RB4011iGS+", arch: "arm", cpu: "ARMv7", cpuCount: 4, cpuMHz: 1400, memMiB: 1024, hddMiB: 512, ether: 10, sfp: []string{"sfp-sfpplus1"}, flash: true},
	{name: "RB5009UG+S+", model: "RB5009UG+S+", arch: "arm64", cpu: "ARM64", cpuCount: 4, cpuMHz: 1400, memMiB: 1024, hddMiB: 1024, ether: 8, sfp: []string{"sfp-sfpplus1"}, v7Only: true, flash: true},
	{name: "CRS326-24G-2S+", model: "CRS326-24G-2S+", arch: "arm", cpu: "ARMv7", cpuCount: 1, cpuMHz: 800, memMiB: 512, hddMiB: 16, ether: 24, sfp: []string{"sfp-sfpplus1", "sfp-sfpplus2"}, flash: true},
	{name: "hEX S", model: "RB760iGS", arch: "mmips", cpu: "MIPS 1004Kc V2.15", cpuCount: 4, cpuMHz: 880, memMiB: 256, hddMiB: 16, ether: 5, sfp: []string{"sfp1"}, flash: true},
	{name: "hAP ac2", model: "RBD52G-5HacD2HnD", arch: "arm", cpu: "ARM", cpuCount: 4, cpuMHz: 716, memMiB: 128, hddMiB: 16, ether: 5, wireless: true, flash: true},
	{name: "CHR", model: "CHR", arch: "x86_64", cpu: "QEMU", cpuCount: 2, cpuMHz: 2611, memMiB: 1024, hddMiB: 89, ether: 4},
}

// boardFor finds the board a Spec names; an unknown name still gets a
// plausible small router so that labs can invent models.
func boardFor(name string) board {
	for _, b := range boards {
		if strings.EqualFold(b.name, name) || strings.EqualFold(b.model, name) {
			return b
		}
	}
	return board{name: name, model: name, arch: "arm", cpu: "ARM", cpuCount: 2, cpuMHz: 880, memMiB: 256, hddMiB: 16, ether: 5, flash: true}
}

// rosVersion is a parsed RouterOS version. Only major and minor change the
// device's behaviour (header date format, secrets handling).
type rosVersion struct {
	raw          string
	major, minor int
}

func parseVersion(s string) (rosVersion, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return rosVersion{}, fmt.Errorf("RouterOS version %q: want MAJOR.MINOR[.PATCH]", s)
	}
	nums := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 999 || p == "" || (len(p) > 1 && p[0] == '0') {
			return rosVersion{}, fmt.Errorf("RouterOS version %q: %q is not a number", s, p)
		}
		nums[i] = n
	}
	if nums[0] != 6 && nums[0] != 7 {
		return rosVersion{}, fmt.Errorf("RouterOS version %q: only 6.x and 7.x are simulated", s)
	}
	return rosVersion{raw: s, major: nums[0], minor: nums[1]}, nil
}

// v6 reports RouterOS 6 behaviour: secrets in plain /export, no show-sensitive.
func (v rosVersion) v6() bool { return v.major < 7 }

// isoDates reports whether the device prints ISO dates (RouterOS 7.10 and
// later); older ones print "nov/28/2026".
func (v rosVersion) isoDates() bool { return v.major > 7 || (v.major == 7 && v.minor >= 10) }

// channel is the update channel `/system resource print` names.
func (v rosVersion) channel() string {
	if v.v6() {
		return "long-term"
	}
	return "stable"
}

// latest is what `/system package update print` offers as the newest version.
func (v rosVersion) latest() string {
	if v.v6() {
		return "6.49.18"
	}
	return "7.20.4"
}

// hash64 is the stable seed of a name: device configurations must not
// change when a fleet is started with more or fewer devices.
func hash64(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// rng is a splitmix64 generator: deterministic per seed, allocation-free,
// and cheap enough to create one per firewall rule.
type rng struct{ s uint64 }

func newRNG(seed uint64, stream ...uint64) rng {
	r := rng{s: seed ^ 0x9e3779b97f4a7c15}
	for _, x := range stream {
		r.s ^= x * 0xbf58476d1ce4e5b9
		r.next()
	}
	return r
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a number in [0, n); n <= 0 gives 0.
func (r *rng) intn(n int) int {
	if n <= 0 {
		return 0
	}
	return int(r.next() % uint64(n))
}

func (r *rng) pick(xs []string) string { return xs[r.intn(len(xs))] }

const alnum = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

func (r *rng) word(n int, alphabet string) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.intn(len(alphabet))]
	}
	return string(b)
}
