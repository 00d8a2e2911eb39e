package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/adrg/xdg"
	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/cfgsnap/cfgsnap/backend/api"
	"github.com/cfgsnap/cfgsnap/backend/client"
	"github.com/cfgsnap/cfgsnap/backend/local"
	"github.com/cfgsnap/cfgsnap/backend/natsauth"
	"github.com/cfgsnap/cfgsnap/backend/natsserver"
)

// Credentials by default (issue 11 §2): `serve` with its embedded server
// lets in only nkeys. It writes a client credential for the OS user that
// runs it to clientSeedPath, where the CLI and TUI of that user find it
// with no flags; other users get their own key from the operator.

// clientSeedPath is this OS user's client credential.
func clientSeedPath() string { return natsauth.ClientSeedPath(xdg.ConfigHome) }

// localServiceProbe bounds the look for a service on the default local
// address when nothing says where the service is.
const localServiceProbe = 300 * time.Millisecond

// localService is where commands go when neither a NATS URL nor an
// inventory is configured: the service this user's credential names (it
// was written by `cfgsnap serve`), else a service listening on the default
// local address, else "" (direct mode, which then asks for an inventory).
func (g *globals) localService() string {
	if g.direct || g.nats.url != "" || g.inventory != "" {
		return ""
	}
	if _, u, err := natsauth.ReadClientSeed(clientSeedPath()); err == nil || !errors.Is(err, fs.ErrNotExist) {
		if u == "" {
			u = "nats://" + natsserver.DefaultListen
		}
		return u // an unreadable credential is reported when connecting
	}
	conn, err := net.DialTimeout("tcp", natsserver.DefaultListen, localServiceProbe)
	if err != nil {
		return ""
	}
	conn.Close()
	return "nats://" + natsserver.DefaultListen
}

// implicitNKey is the credential used when no credential flag is given:
// this user's client seed, for the server it names or any loopback server
// (never sent to a remote server it was not written for).
func (g *globals) implicitNKey(target string) string {
	n := g.nats
	if n.creds != "" || n.nkey != "" || n.user != "" || n.password != "" || n.token != "" {
		return ""
	}
	path := clientSeedPath()
	_, named, err := natsauth.ReadClientSeed(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	if err == nil && named != "" && sameServer(named, target) || loopbackURL(target) {
		return path
	}
	return ""
}

func sameServer(a, b string) bool {
	return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
}

// loopbackURL reports whether every server of a (comma-separated) NATS URL
// is on this machine.
func loopbackURL(s string) bool {
	for _, one := range strings.Split(s, ",") {
		one = strings.TrimSpace(one)
		if !strings.Contains(one, "://") {
			one = "nats://" + one
		}
		u, err := url.Parse(one)
		if err != nil {
			return false
		}
		host := u.Hostname()
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return false
		}
	}
	return true
}

// dialService connects the CLI/TUI to the service: with the credential
// flags, else with this user's client credential. An implicit credential
// offered to a server without authentication is dropped (such servers
// refuse nkeys); a refusal says what to ask the operator for.
func (g *globals) dialService(ctx context.Context, log *slog.Logger) (*nats.Conn, error) {
	opts := g.natsOptions("cfgsnap "+local.Holder(), log)
	implicit := g.implicitNKey(g.nats.url)
	if implicit != "" {
		opts.NKeyFile = implicit
	}
	nc, err := client.DialNATS(ctx, g.nats.url, opts)
	if implicit != "" && errors.Is(err, nats.ErrNkeysNotSupported) {
		opts.NKeyFile = ""
		nc, err = client.DialNATS(ctx, g.nats.url, opts)
	}
	if err != nil && isAuthRefusal(err) {
		return nil, &exitError{code: exitUsage, err: g.refusal(opts)}
	}
	return nc, err
}

func isAuthRefusal(err error) bool {
	return errors.Is(err, nats.ErrAuthorization) || strings.Contains(strings.ToLower(err.Error()), "authorization violation")
}

// refusal explains an authorisation error: which credential was refused
// and what to ask the service's operator for. Exit 2 (configuration, as for
// any refused credential): the service was reached, and retrying without
// another credential cannot help, unlike exit 4's unreachable service.
func (g *globals) refusal(o client.NATSOptions) error {
	where := fmt.Sprintf("the cfgsnap service on %s", redactURL(g.nats.url))
	howToGet := "ask its operator for a client credential: run `cfgsnap credential new`, send them the public key it prints " +
		"(they add it with `cfgsnap credential allow KEY NAME` and SIGHUP the service); then cfgsnap finds it with no flags. " +
		"Or pass a credential they gave you with --nats-nkey FILE or --nats-creds FILE. " +
		"(`cfgsnap serve` writes a credential only for the OS user that runs it, to that user's ~/.config/cfgsnap/client.nk.)"
	switch {
	case o.NKeyFile != "":
		pub, _, _ := natsauth.ReadClientSeed(o.NKeyFile)
		if pub == "" {
			pub = "unreadable"
		}
		return fmt.Errorf("%s refused the credential %s (public key %s): it is not (or no longer) allowed there; %s", where, o.NKeyFile, pub, howToGet)
	case o.Creds != "" || o.User != "" || o.Password != "" || o.Token != "":
		return fmt.Errorf("%s refused the credential given (--nats-creds, --nats-user/--nats-password or --nats-token); %s", where, howToGet)
	}
	return fmt.Errorf("%s requires credentials and you have none (none at %s); %s", where, clientSeedPath(), howToGet)
}

func redactURL(u string) string {
	if p, err := url.Parse(u); err == nil && p.User != nil {
		return p.Redacted()
	}
	return u
}

// embeddedAuth prepares the embedded server's credentials for serve, or
// says loudly that there are none.
func embeddedAuth(g *globals, noAuth bool, natsConfig string, log *slog.Logger) (*natsauth.Embedded, error) {
	if noAuth {
		msg := "--no-auth: the embedded NATS server lets in anyone who can reach it; every local user can read every snapshot. For labs only."
		fmt.Fprintln(os.Stderr, "cfgsnap serve: WARNING:", msg)
		log.Warn(msg)
		return nil, nil
	}
	if natsConfig != "" {
		return nil, nil // the configuration's own users apply; warnOpen checks it has some
	}
	auth, err := natsauth.Prepare(g.dataDir, clientSeedPath(), "", local.Holder())
	if err != nil {
		return nil, &exitError{code: exitFailed, err: fmt.Errorf("embedded NATS credentials: %w", err)}
	}
	return auth, nil
}

// warnOpen says loudly when a --nats-config lets anyone in.
func warnOpen(ns *natsserver.Server, log *slog.Logger) {
	if !ns.Open() {
		return
	}
	msg := "the --nats-config defines no users: the embedded NATS server lets in anyone who can reach it"
	fmt.Fprintln(os.Stderr, "cfgsnap serve: WARNING:", msg)
	log.Warn(msg)
}

// serviceAuth points the service's own connection at its seed and records
// the server's URL in the owner's client credential.
func serviceAuth(auth *natsauth.Embedded, o *client.NATSOptions, url string) error {
	*o = client.NATSOptions{NKeyFile: auth.ServiceSeed, InboxPrefix: o.InboxPrefix, Name: o.Name, Logger: o.Logger}
	if _, err := natsauth.EnsureClientSeed(auth.ClientSeed, url, "written by `cfgsnap serve` for "+local.Holder()); err != nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("client credential: %w", err)}
	}
	return nil
}

// reloadClientsOnHUP re-reads the allowed client keys on each SIGHUP (the
// inventory reload listens for the same signal).
func reloadClientsOnHUP(ns *natsserver.Server, auth *natsauth.Embedded, prefix, inboxPrefix string, log *slog.Logger) (stop func()) {
	return onHUP(func() {
		err := auth.Reload()
		if err == nil {
			err = ns.SetNKeys(auth.Users(prefix, inboxPrefix))
		}
		if err != nil {
			log.Error("NATS client keys reload refused; the old keys stay", "err", err)
			fmt.Fprintf(os.Stderr, "cfgsnap serve: NATS client keys reload refused, the old keys stay:\n%v\n", err)
			return
		}
		log.Info("NATS client keys reloaded", "clients", len(auth.Clients))
	})
}

func newCredentialCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "credential",
		Short: "Client credentials (NATS nkeys) for a backup service's embedded server",
		Long: `cfgsnap serve's embedded NATS server lets in only the nkeys listed in
DATA_DIR/nats-auth/clients. An engineer makes a key with 'credential new'
(the secret stays in their ~/.config/cfgsnap/client.nk) and sends the public
key to the operator, who adds it with 'credential allow' and sends SIGHUP to
the service.`,
	}
	var out, serviceURL string
	newCmd := &cobra.Command{
		Use:   "new",
		Short: "Make this user's client credential and print its public key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path := expandHome(out)
			if path == "" {
				path = clientSeedPath()
			}
			if pub, _, err := natsauth.ReadClientSeed(path); err == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s (exists; kept)\n", pub, path)
				return nil
			}
			pub, err := natsauth.NewClientSeed(path, serviceURL, "made by `cfgsnap credential new` for "+local.Holder())
			if err != nil {
				return &exitError{code: exitFailed, err: err}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\n", pub, path)
			fmt.Fprintf(cmd.ErrOrStderr(), "send the public key (the first column, never the file) to the service's operator:\n  cfgsnap credential allow %s %s\n", pub, local.Holder())
			return nil
		},
	}
	newCmd.Flags().StringVar(&out, "out", "", "where to write the seed (default $XDG_CONFIG_HOME/cfgsnap/client.nk, where cfgsnap looks)")
	newCmd.Flags().StringVar(&serviceURL, "service", "", "the service's NATS URL to record in the credential (default nats://"+natsserver.DefaultListen+")")
	allowCmd := &cobra.Command{
		Use:   "allow PUBLIC_KEY [NAME]",
		Short: "Operator: let a client public key into the service of --data-dir (then SIGHUP the service)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 2 {
				name = args[1]
			}
			file := filepath.Join(natsauth.Dir(g.dataDir), natsauth.ClientsName)
			if err := natsauth.Allow(file, args[0], name); err != nil {
				return &exitError{code: exitUsage, err: api.Wrap(api.KindBadRequest, err, "credential allow")}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "allowed %s in %s; send SIGHUP to the running cfgsnap serve (or restart it)\n", args[0], file)
			return nil
		},
	}
	cmd.AddCommand(newCmd, allowCmd)
	return cmd
}
