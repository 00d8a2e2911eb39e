package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"

	"github.com/cfgsnap/cfgsnap/backend/devicesim"
	"github.com/cfgsnap/cfgsnap/backend/inventory"
)

// parseListen splits --listen HOST[:PORT] into a host and a base port (0:
// ephemeral ports).
func parseListen(s string) (string, int, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return s, 0, nil //nolint:nilerr // a bare host: any free ports
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", 0, usageErr("--listen %q: port must be a number 0-65535", s)
	}
	return host, p, nil
}

func newSimCmd(g *globals) *cobra.Command {
	var (
		listen   string
		devices  int
		invOut   string
		faulty   bool
		stateDir string
		authKeys string
		identity string
	)
	cmd := &cobra.Command{
		Use:   "sim [--listen ADDR] [--devices N] [--inventory-out FILE]",
		Short: "Run only the simulated RouterOS fleet (labs and tests)",
		Long: `Run a fleet of simulated RouterOS devices: real SSH servers on one port per
device, answering /export and friends like RouterOS 6 and 7 do. Writes an
inventory that points at the fleet (its password in FILE.password, 0600).
--listen HOST:PORT numbers the devices' ports from PORT; HOST alone or port 0
gives each device an ephemeral port. Runs until interrupted.`,
		Example: "  cfgsnap sim --devices 50 --inventory-out /tmp/lab.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if devices < 1 {
				return usageErr("--devices must be at least 1")
			}
			host, base, err := parseListen(listen)
			if err != nil {
				return err
			}
			if stateDir == "" {
				stateDir = filepath.Join(g.dataDir, "sim")
			}
			cfg := devicesim.Config{ListenHost: host, BasePort: base, StateDir: stateDir}
			if authKeys != "" {
				if cfg.AuthorizedKeys, err = readAuthorizedKeys(authKeys); err != nil {
					return usageErr("--authorized-keys: %v", err)
				}
			}
			ctx := cmd.Context()
			fleet, err := devicesim.Start(ctx, cfg, devicesim.DefaultFleet(devices, faulty))
			if err != nil {
				return &exitError{code: exitFailed, err: fmt.Errorf("start simulator: %w", err)}
			}
			defer fleet.Close()
			out := cmd.OutOrStdout()
			if invOut != "" {
				if err := fleet.WriteInventory(invOut); err != nil {
					return &exitError{code: exitFailed, err: err}
				}
				if identity != "" {
					if err := setIdentityFile(invOut, identity); err != nil {
						return &exitError{code: exitFailed, err: err}
					}
				}
				fmt.Fprintf(out, "inventory: %s\n", invOut)
			}
			devs := fleet.Devices()
			ports := make([]int, len(devs))
			for i, d := range devs {
				ports[i] = d.Port
			}
			fmt.Fprintf(out, "simulating %d RouterOS devices on %s, ports %s; Ctrl-C stops\n", len(devs), host, portList(ports))
			select {
			case <-ctx.Done():
			case <-parentGone(ctx):
				fmt.Fprintln(cmd.ErrOrStderr(), "cfgsnap sim: the process that started it is gone; stopping")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1", "HOST or HOST:FIRSTPORT")
	f.IntVar(&devices, "devices", 50, "how many devices")
	f.StringVar(&invOut, "inventory-out", "", "write an inventory for the fleet here")
	f.BoolVar(&faulty, "faulty", false, "add one faulty device per fault (wrong password, hang, truncation, ...)")
	f.StringVar(&authKeys, "authorized-keys", "", "also accept public-key logins with these keys (OpenSSH authorized_keys file)")
	f.StringVar(&identity, "identity-file", "", "write this private key file into the inventory's defaults (pair with --authorized-keys)")
	f.StringVar(&stateDir, "state-dir", "", "keep host keys here across restarts (default DATA_DIR/sim)")
	return cmd
}

// portList writes the ports the devices really listen on: a range when
// they are consecutive (--listen HOST:PORT), else each one (ephemeral ports).
func portList(ports []int) string {
	sorted := slices.Sorted(slices.Values(ports))
	if len(sorted) > 0 && sorted[len(sorted)-1]-sorted[0] == len(sorted)-1 {
		if len(sorted) == 1 {
			return strconv.Itoa(sorted[0])
		}
		return fmt.Sprintf("%d-%d", sorted[0], sorted[len(sorted)-1])
	}
	parts := make([]string, len(ports))
	for i, p := range ports {
		parts[i] = strconv.Itoa(p)
	}
	return strings.Join(parts, ",")
}

// parentGone is closed when the process that started sim exits (it is
// re-parented), so a simulator started in the background by a script or a
// test does not outlive it, holding its ports. Polling the parent's PID
// works on every Unix, where Pdeathsig is Linux-only and bound to the
// parent's thread rather than its process.
func parentGone(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	parent := os.Getppid()
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if os.Getppid() != parent {
					close(done)
					return
				}
			}
		}
	}()
	return done
}

func readAuthorizedKeys(path string) ([]ssh.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys []ssh.PublicKey
	for len(bytes.TrimSpace(b)) > 0 {
		k, _, _, rest, err := ssh.ParseAuthorizedKey(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		keys = append(keys, k)
		b = rest
	}
	return keys, nil
}

// setIdentityFile rewrites a written inventory with an identity file in its
// defaults, for labs that log in with a key as well as the password.
func setIdentityFile(invPath, identity string) error {
	b, err := os.ReadFile(invPath)
	if err != nil {
		return err
	}
	var doc inventory.FileDoc
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("read back %s: %w", invPath, err)
	}
	if doc.Defaults == nil {
		doc.Defaults = &inventory.FileSettings{}
	}
	abs, err := filepath.Abs(identity)
	if err != nil {
		return err
	}
	doc.Defaults.IdentityFile = abs
	return inventory.WriteFile(invPath, doc)
}
