package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bbolt-check runs bbolt's own tx.Check() on a db, read-only, and reports the engine's words.
//
// bbolt panics on some corrupt files, and not always where a recover() can catch it: with no
// persisted freelist (etcd), the check first rebuilds the freelist by walking the tree, and a
// corruption found there panics in a goroutine of bbolt's own ("freepages: failed to get all
// reachable pages (…)", formats.md §6); a page id past the mapping faults. Either kills the
// process. So the check runs in a child storectl that writes each error as a JSON line the moment
// bbolt sends it, and the parent reports those lines plus the child's panic, if it died: one JSON
// answer whatever bbolt does, with every error bbolt said before it crashed.

const bboltInnerEnv = "STORECTL_BBOLT_CHECK_INNER"

type bboltCheckResult struct {
	// Opened: bolt.Open (read-only) accepted the file.
	Opened bool `json:"opened"`
	// Panicked: bbolt panicked or the runtime died; the last Errors are its panic lines.
	Panicked bool `json:"panicked"`
	// Errors: tx.Check's errors in the order bbolt sent them, or the open error; empty when OK.
	Errors []string `json:"errors"`
	// Truncated: more than --max-errors errors (a cycle makes bbolt's recursive check report the
	// same pages forever); the rest was not read.
	Truncated bool `json:"truncated"`
}

// checkLine is one line of the child's output.
type checkLine struct {
	Opened    bool   `json:"opened,omitempty"`
	Error     string `json:"error,omitempty"`
	Panic     string `json:"panic,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
	Done      bool   `json:"done,omitempty"`
}

func bboltCheckCmd(args []string) (any, error) {
	fs := newFlagSet("bbolt-check")
	file := fs.String("file", "", "db file")
	maxErrors := fs.Int("max-errors", 1000, "stop after this many errors")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up on bbolt after this long")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if *file == "" {
		return nil, &usageError{"bbolt-check: --file is required"}
	}
	if *maxErrors < 1 {
		return nil, &usageError{"bbolt-check: --max-errors must be at least 1"}
	}
	if os.Getenv(bboltInnerEnv) == "1" {
		bboltCheckInner(*file, *maxErrors)
		os.Exit(0)
	}
	return bboltCheckOuter(args, *timeout)
}

func emit(l checkLine) {
	out, _ := json.Marshal(l)
	fmt.Fprintln(os.Stdout, string(out)) // os.Stdout is unbuffered: the line is out before any crash
}

// bboltCheckInner is the child: open read-only, check, one line per error. A panic in this
// goroutine is recovered and reported; one in bbolt's goroutines ends the process, and the
// parent reads it from stderr.
func bboltCheckInner(file string, maxErrors int) {
	defer func() {
		if r := recover(); r != nil {
			emit(checkLine{Panic: fmt.Sprintf("panic: %v", r)})
		}
	}()
	// Timeout: a db held by a live engine (an exclusive flock) is refused, not waited on.
	db, err := bolt.Open(file, 0o400, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		emit(checkLine{Error: err.Error()})
		emit(checkLine{Done: true})
		return
	}
	emit(checkLine{Opened: true})
	n := 0
	err = db.View(func(tx *bolt.Tx) error {
		for e := range tx.Check() {
			if n == maxErrors {
				// bbolt's check goroutine goes on (a cycle never ends it): stop right here, inside the
				// transaction, since ending it would unmap the pages under that goroutine.
				emit(checkLine{Truncated: true})
				emit(checkLine{Done: true})
				os.Exit(0)
			}
			n++
			emit(checkLine{Error: e.Error()})
		}
		return nil
	})
	if err != nil {
		emit(checkLine{Error: err.Error()})
	}
	_ = db.Close()
	emit(checkLine{Done: true})
}

// bboltCheckOuter runs the child and gathers its lines; a child that died adds its panic.
func bboltCheckOuter(args []string, timeout time.Duration) (any, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, append([]string{"bbolt-check"}, args...)...)
	cmd.Env = append(os.Environ(), bboltInnerEnv+"=1")
	var stdout bytes.Buffer
	stderr := &headBuffer{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("bbolt-check: bbolt did not finish within %s", timeout)
	}
	res := bboltCheckResult{Errors: []string{}}
	done := false
	for _, text := range strings.Split(stdout.String(), "\n") {
		var l checkLine
		if text == "" || json.Unmarshal([]byte(text), &l) != nil {
			continue
		}
		res.Opened = res.Opened || l.Opened
		res.Truncated = res.Truncated || l.Truncated
		done = done || l.Done
		if l.Error != "" {
			res.Errors = append(res.Errors, l.Error)
		}
		if l.Panic != "" {
			res.Panicked = true
			res.Errors = append(res.Errors, l.Panic)
		}
	}
	if !done && !res.Panicked {
		lines := panicLines(stderr.String())
		if len(lines) == 0 {
			return nil, fmt.Errorf("bbolt-check: child failed (%v) without a panic message: %s", runErr, strings.TrimSpace(stderr.String()))
		}
		res.Panicked = true
		res.Errors = append(res.Errors, lines...)
	}
	return res, nil
}

// panicLines picks what the Go runtime says about a crash: the panic value or the fatal error,
// without the goroutine dumps.
func panicLines(stderr string) []string {
	var out []string
	for _, line := range strings.Split(stderr, "\n") {
		for _, prefix := range []string{"panic: ", "fatal error: ", "unexpected fault address", "runtime: goroutine stack exceeds"} {
			if strings.HasPrefix(line, prefix) && len(out) < 4 {
				out = append(out, strings.TrimSpace(line))
			}
		}
	}
	return out
}

// headBuffer keeps the first max bytes written: a crash prints every goroutine's stack, and only
// the first lines say why.
type headBuffer struct {
	buf bytes.Buffer
	max int
}

func (h *headBuffer) Write(p []byte) (int, error) {
	if room := h.max - h.buf.Len(); room > 0 {
		h.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (h *headBuffer) String() string { return h.buf.String() }
