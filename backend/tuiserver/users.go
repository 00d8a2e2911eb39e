package tuiserver

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
	gossh "golang.org/x/crypto/ssh"

	"github.com/cfgsnap/cfgsnap/backend/api"
)

// Role says what a user of the served TUI may do.
type Role string

const (
	// RoleOperator may browse and back up.
	RoleOperator Role = "operator"
	// RoleViewer may browse history, diffs and snapshots, never trigger.
	RoleViewer Role = "viewer"
)

// User is one entry of the users file.
type User struct {
	Name string `yaml:"name"`
	// Keys are authorized_keys lines; KeysFile is an authorized_keys file
	// read at load (and on each reload).
	Keys     []string `yaml:"keys"`
	KeysFile string   `yaml:"keys_file"`
	// Tenants the user may see; ["*"] is every tenant.
	Tenants []string `yaml:"tenants"`
	// Role is operator (the default) or viewer.
	Role Role `yaml:"role"`
}

// AllTenants reports whether the user may see every tenant.
func (u *User) AllTenants() bool { return slices.Contains(u.Tenants, "*") }

// MayUse reports whether the user may see tenant.
func (u *User) MayUse(tenant string) bool {
	return u.AllTenants() || slices.Contains(u.Tenants, tenant)
}

type usersFile struct {
	Users []User `yaml:"users"`
}

// Users is a loaded users file: who may log in with which key.
type Users struct {
	list  []*User
	byKey map[string]*User // wire form of the public key → user
}

// Len is the number of users.
func (u *Users) Len() int { return len(u.list) }

// Lookup returns the user a public key belongs to.
func (u *Users) Lookup(key gossh.PublicKey) (*User, bool) {
	if u == nil || key == nil {
		return nil, false
	}
	usr, ok := u.byKey[string(key.Marshal())]
	return usr, ok
}

// LoadUsers reads and validates a users file. Every problem is reported
// with the user it belongs to; a file with any problem is refused whole so
// that a typo never opens (or silently closes) the door.
func LoadUsers(path string) (*Users, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, api.Wrap(api.KindBadRequest, err, "read the TUI users file")
	}
	return ParseUsers(data, path)
}

// ParseUsers parses the YAML of a users file; where names it in errors and
// anchors relative keys_file paths (its directory).
func ParseUsers(data []byte, where string) (*Users, error) {
	var f usersFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, api.Errorf(api.KindBadRequest, "TUI users file %s: %v", where, err)
	}
	u := &Users{byKey: map[string]*User{}}
	var problems []string
	seen := map[string]bool{}
	for i := range f.Users {
		usr := &f.Users[i]
		label := fmt.Sprintf("users[%d]", i)
		if usr.Name != "" {
			label = fmt.Sprintf("user %q", usr.Name)
		}
		if err := api.CheckID("user name", usr.Name); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", label, err))
			continue
		}
		if seen[usr.Name] {
			problems = append(problems, label+": listed twice")
			continue
		}
		seen[usr.Name] = true
		switch usr.Role {
		case "":
			usr.Role = RoleOperator
		case RoleOperator, RoleViewer:
		default:
			problems = append(problems, fmt.Sprintf("%s: role %q: use operator or viewer", label, usr.Role))
		}
		if len(usr.Tenants) == 0 {
			problems = append(problems, label+`: no tenants (list them, or ["*"] for all)`)
		}
		for _, t := range usr.Tenants {
			if t != "*" && api.CheckID("tenant", t) != nil {
				problems = append(problems, fmt.Sprintf("%s: invalid tenant %q", label, t))
			}
		}
		lines := slices.Clone(usr.Keys)
		if usr.KeysFile != "" {
			kf := usr.KeysFile
			if !filepath.IsAbs(kf) {
				kf = filepath.Join(filepath.Dir(where), kf)
			}
			b, err := os.ReadFile(kf)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: keys_file: %v", label, err))
			} else {
				lines = append(lines, strings.Split(string(b), "\n")...)
			}
		}
		n := 0
		for j, line := range lines {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			key, _, _, _, err := gossh.ParseAuthorizedKey([]byte(line))
			if err != nil {
				// The line itself is not echoed: it may be anything.
				problems = append(problems, fmt.Sprintf("%s: key %d is not an authorized_keys line: %v", label, j+1, err))
				continue
			}
			wire := string(key.Marshal())
			if other, dup := u.byKey[wire]; dup && other != usr {
				problems = append(problems, fmt.Sprintf("%s: a key is also %q's (one key, one user)", label, other.Name))
				continue
			}
			u.byKey[wire] = usr
			n++
		}
		if n == 0 {
			problems = append(problems, label+": no keys (keys or keys_file)")
		}
		u.list = append(u.list, usr)
	}
	if len(problems) > 0 {
		return nil, api.Errorf(api.KindBadRequest, "TUI users file %s:\n  %s", where, strings.Join(problems, "\n  "))
	}
	return u, nil
}
