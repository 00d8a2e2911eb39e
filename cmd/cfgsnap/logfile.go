package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
)

// The log file is capped (issue 11 §4): a service that runs for months, or
// a device that makes every backup log a long error, must not fill the
// disk. At logMaxBytes the file becomes FILE.1 (FILE.1 becomes FILE.2, ...)
// and logKeep old files are kept: at most (logKeep+1)*logMaxBytes on disk.
const (
	logMaxBytes = 10 << 20
	logKeep     = 3
)

// rotatingFile is an append-only log file that rotates by size. The
// standard library has no rotation and the job is small enough not to add
// a dependency for it.
type rotatingFile struct {
	mu   sync.Mutex
	path string
	max  int64
	keep int
	f    *os.File
	size int64
}

// openRotating opens (creating, mode 0600) the log file at path.
func openRotating(path string, maxSize int64, keep int) (*rotatingFile, error) {
	r := &rotatingFile{path: path, max: maxSize, keep: keep}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *rotatingFile) open() error {
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	st, err := f.Stat()
	if err == nil && st.Mode().Perm() != 0o600 {
		err = f.Chmod(0o600) // a log from an older build may be readable by others
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("log file %s: %w", r.path, err)
	}
	r.f, r.size = f, st.Size()
	return nil
}

// Write appends p, rotating first when p would take the file past max. A
// line longer than max still goes whole into a fresh file.
func (r *rotatingFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return 0, os.ErrClosed
	}
	if r.size > 0 && r.size+int64(len(p)) > r.max {
		if err := r.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, err
}

// rotate moves the files along and opens a new one. When another process
// (a CLI and the service of the same user share the default log) rotated
// the file already, it only reopens the new one.
func (r *rotatingFile) rotate() error {
	mine, err1 := r.f.Stat()
	current, err2 := os.Stat(r.path)
	if err := r.f.Close(); err != nil {
		r.f = nil
		return fmt.Errorf("log file: %w", err)
	}
	r.f = nil
	if err1 == nil && err2 == nil && os.SameFile(mine, current) {
		for i := r.keep - 1; i >= 1; i-- {
			if err := os.Rename(r.path+"."+strconv.Itoa(i), r.path+"."+strconv.Itoa(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("rotate log file: %w", err)
			}
		}
		if r.keep >= 1 {
			if err := os.Rename(r.path, r.path+".1"); err != nil {
				return fmt.Errorf("rotate log file: %w", err)
			}
		} else if err := os.Remove(r.path); err != nil {
			return fmt.Errorf("rotate log file: %w", err)
		}
	}
	return r.open()
}

func (r *rotatingFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}
