package gitmirror

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// repo runs the git binary on one repository. The git binary rather than a
// Go implementation: it is on every jump host that would read the mirror,
// its plumbing (hash-object, update-index, commit-tree, update-ref) gives
// exactly the crash-safe order needed, and go-git would be a large
// dependency for a few commands.
type repo struct {
	git string
	dir string
	env []string
}

func newRepo(gitPath, dir string) (*repo, error) {
	if gitPath == "" {
		p, err := exec.LookPath("git")
		if err != nil {
			return nil, fmt.Errorf("export git needs the git binary on PATH: %w", err)
		}
		gitPath = p
	}
	// Inherited GIT_DIR, GIT_INDEX_FILE, GIT_WORK_TREE (cfgsnap run from a
	// git hook, say) would point the commands at another repository.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	env = append(env, "GIT_TERMINAL_PROMPT=0", "LC_ALL=C")
	return &repo{git: gitPath, dir: dir, env: env}, nil
}

// run runs git with args in the repository; stdin may be nil. It returns
// stdout without its trailing newline.
func (r *repo) run(ctx context.Context, stdin []byte, env []string, args ...string) (string, error) {
	out, err := r.runBytes(ctx, stdin, env, args...)
	return strings.TrimRight(string(out), "\n"), err
}

func (r *repo) runBytes(ctx context.Context, stdin []byte, env []string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, r.git, append([]string{"-C", r.dir}, args...)...)
	cmd.Env = append(append([]string(nil), r.env...), env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if len(msg) > 500 {
			msg = msg[:500] + "…"
		}
		return nil, &gitError{args: args, msg: msg, err: err}
	}
	return out.Bytes(), nil
}

// gitError is a failed git command with what it printed.
type gitError struct {
	args []string
	msg  string
	err  error
}

func (e *gitError) Error() string {
	if e.msg != "" {
		return fmt.Sprintf("git %s: %v: %s", e.args[0], e.err, e.msg)
	}
	return fmt.Sprintf("git %s: %v", e.args[0], e.err)
}

func (e *gitError) Unwrap() error { return e.err }
