package devicesim

import (
	"io"
	"testing"

	"golang.org/x/crypto/ssh"
)

// BenchmarkExport60KB is one backup's transfer end to end: TCP connect, SSH
// handshake and password login, `/export show-sensitive` of a 60 KB
// configuration read to the end, exit status.
func BenchmarkExport60KB(b *testing.B) {
	f := startFleet(b, Config{}, Spec{Tenant: "acme", ID: "core-rtr-1", Version: "7.16.2", SizeBytes: 60 << 10})
	a := addr(b, f, "acme", "core-rtr-1")
	cfg := clientConfig(f, nil)
	b.ReportAllocs()
	for b.Loop() {
		c, err := ssh.Dial("tcp", a, cfg)
		if err != nil {
			b.Fatal(err)
		}
		n := exportOnce(b, c)
		c.Close()
		b.SetBytes(n)
	}
}

// BenchmarkExport60KBSession is the same export on an open connection: the
// cost of generating and streaming the configuration alone.
func BenchmarkExport60KBSession(b *testing.B) {
	f := startFleet(b, Config{}, Spec{Tenant: "acme", ID: "core-rtr-1", Version: "7.16.2", SizeBytes: 60 << 10})
	c := dial(b, f, "acme", "core-rtr-1")
	b.ReportAllocs()
	for b.Loop() {
		b.SetBytes(exportOnce(b, c))
	}
}

// BenchmarkGenerate4MB renders a 4 MB export in memory, no SSH.
func BenchmarkGenerate4MB(b *testing.B) {
	f := startFleet(b, Config{}, Spec{Tenant: "acme", ID: "big", Version: "7.16.2", SizeBytes: 4 << 20})
	d := f.devices[0]
	d.fillerUnits()
	b.ReportAllocs()
	for b.Loop() {
		var cw countWriter
		if err := d.writeExport(&cw, exportOpts{showSecrets: true}, fixedNow, 0); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(cw.n)
	}
}

func exportOnce(b *testing.B, c *ssh.Client) int64 {
	s, err := c.NewSession()
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	out, err := s.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start("/export show-sensitive"); err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(io.Discard, out)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Wait(); err != nil {
		b.Fatal(err)
	}
	return n
}
