package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
	gossh "golang.org/x/crypto/ssh"

	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/ratelimit"
	"github.com/cfgsnap/cfgsnap/backend/tuiserver"
)

// tuiServeOptions are the flags of the TUI served over SSH (serve, demo).
type tuiServeOptions struct {
	listen      string
	users       string
	idle        time.Duration
	maxSessions int
	rateLimit   int
}

func (o *tuiServeOptions) addFlags(f *pflag.FlagSet, withUsers bool) {
	f.StringVar(&o.listen, "tui-listen", "", "HOST:PORT where the TUI is served over SSH (e.g. :2222; needs --tui-users)")
	if withUsers {
		f.StringVar(&o.users, "tui-users", "", "YAML file of the users who may open the served TUI: name, keys or keys_file, tenants, role (SIGHUP reloads it)")
	}
	f.DurationVar(&o.idle, "tui-idle-timeout", tuiserver.DefaultIdleTimeout, "close a served TUI session after this long without a keystroke")
	f.IntVar(&o.maxSessions, "tui-max-sessions", tuiserver.DefaultMaxSessions, "served TUI sessions open at once")
	f.IntVar(&o.rateLimit, "rate-limit", ratelimit.DefaultPerMinute, "backups each served-TUI user may start per minute (0: no limit)")
}

func (o *tuiServeOptions) check() error {
	if o.listen == "" {
		return nil
	}
	if o.users == "" {
		return usageErr("--tui-listen needs --tui-users FILE (who may log in, with which keys and tenants)")
	}
	if o.idle <= 0 || o.maxSessions < 1 || o.rateLimit < 0 {
		return usageErr("--tui-idle-timeout must be positive, --tui-max-sessions at least 1, --rate-limit not negative")
	}
	return nil
}

// startTUIServer serves the TUI on c over SSH, with the host key in
// dataDir, and reloads the users file on SIGHUP until stop is called.
func startTUIServer(o tuiServeOptions, c client.Client, dataDir string, log *slog.Logger, stderr io.Writer) (stop func(), addr string, err error) {
	srv, err := tuiserver.New(tuiserver.Config{Listen: o.listen, UsersFile: o.users,
		HostKeyPath: filepath.Join(dataDir, tuiserver.HostKeyFile), Client: c, IdleTimeout: o.idle,
		MaxSessions: o.maxSessions, Limit: ratelimit.New(o.rateLimit), Version: version, Logger: log})
	if err != nil {
		return nil, "", &exitError{code: exitUsage, err: fmt.Errorf("--tui-users %s: %w", o.users, err)}
	}
	if err := srv.Start(); err != nil {
		return nil, "", &exitError{code: exitFailed, err: err}
	}
	fmt.Fprintf(stderr, "cfgsnap: TUI over SSH on %s for %d users of %s; host key %s (%s)\n",
		srv.Addr(), srv.Users().Len(), o.users, srv.Fingerprint(), filepath.Join(dataDir, tuiserver.HostKeyFile))
	stopHUP := onHUP(func() {
		if err := srv.Reload(); err != nil {
			log.Error("tui users reload refused; the old users stay", "err", err)
			fmt.Fprintf(stderr, "cfgsnap: TUI users reload refused, the old users stay:\n%v\n", err)
		} else {
			fmt.Fprintf(stderr, "cfgsnap: TUI users reloaded: %d users (new sessions)\n", srv.Users().Len())
		}
	})
	return func() {
		stopHUP()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			log.Error("tui ssh server shutdown", "err", err)
		}
	}, srv.Addr().String(), nil
}

// writeDemoUsers writes a users file letting the running user in with
// every tenant: the keys of ~/.ssh/authorized_keys and ~/.ssh/id_*.pub,
// plus a key generated into dataDir so that it works without any.
func writeDemoUsers(dataDir string) (usersPath, keyPath string, found []string, err error) {
	name := "demo"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	var keys []string
	if home, err := os.UserHomeDir(); err == nil {
		cands, _ := filepath.Glob(filepath.Join(home, ".ssh", "id_*.pub"))
		cands = append(cands, filepath.Join(home, ".ssh", "authorized_keys"))
		for _, p := range cands {
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			n := 0
			for _, line := range strings.Split(string(b), "\n") {
				line = strings.TrimSpace(line)
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				if _, _, _, _, err := gossh.ParseAuthorizedKey([]byte(line)); err == nil {
					keys = append(keys, line)
					n++
				}
			}
			if n > 0 {
				found = append(found, p)
			}
		}
	}
	keyPath = filepath.Join(dataDir, "demo_ed25519")
	pemBytes, _, err := tuiserver.EnsureHostKey(keyPath) // any private ed25519 key file, 0600
	if err != nil {
		return "", "", nil, err
	}
	signer, err := gossh.ParsePrivateKey(pemBytes)
	if err != nil {
		return "", "", nil, err
	}
	keys = append(keys, strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey())))+" cfgsnap-demo")
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by cfgsnap demo --tui-listen: %s may open the served TUI on every tenant.\nusers:\n  - name: %s\n    tenants: [\"*\"]\n    role: operator\n    keys:\n", name, demoUserName(name))
	seen := map[string]bool{}
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			fmt.Fprintf(&b, "      - %q\n", k)
		}
	}
	usersPath = filepath.Join(dataDir, "tui-users.yaml")
	if err := os.WriteFile(usersPath, []byte(b.String()), 0o600); err != nil {
		return "", "", nil, fmt.Errorf("demo users file: %w", err)
	}
	return usersPath, keyPath, found, nil
}

// demoUserName makes an OS user name a valid users-file name.
func demoUserName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 || b.Len() > 64 {
		return "demo"
	}
	return b.String()
}
