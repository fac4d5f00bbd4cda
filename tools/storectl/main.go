// storectl: the referee for LevelDB-family stores and bbolt. It calls the real engines (goleveldb
// v1.0.0, Pebble v2.1.7, bbolt v1.4.3) and reports, as one JSON object on stdout, whether the
// engine opens a store and what it holds, what goleveldb's own Recover keeps, drops or rebuilds,
// and what bbolt's own tx.Check says about a db; it also writes test stores and dbs.
// It diagnoses nothing itself: the TypeScript doctor does that, and its verdicts are checked
// against what the engines do here.
//
// Exit codes: 0 with the result; 1 with {"error": "...", "corrupted": bool} when the engine refused
// (corrupted says whether the engine itself classed the error as corruption); 2 for a usage error.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
)

const usage = `usage:
  storectl scan    --engine goleveldb|pebble --dir D [--ignore-checksums]
  storectl recover --dir D [--strict] [--ignore-checksums]
  storectl write   --engine goleveldb|pebble --dir D --keys N [--tables T] [--wal-keys K]
                   [--batch-keys B] [--value-bytes V] [--seed S] [--no-compression]
                   [--pebble-format N|newest]
  storectl bbolt-write --file F --keys N [--buckets B] [--nested] [--value-bytes V]
                   [--large-values K] [--seed S] [--no-freelist] [--page-size P]
  storectl bbolt-check --file F [--max-errors M] [--timeout D]`

// engineError is an error from the engine, with the engine's own corruption classification.
type engineError struct {
	err       error
	corrupted bool
}

func (e *engineError) Error() string { return e.err.Error() }

// usageError is a bad command line: exit 2, so callers can tell a bug in the caller from a store
// the engine refuses.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return fail(stdout, stderr, &usageError{"no command"})
	}
	var (
		result any
		err    error
	)
	switch args[0] {
	case "scan":
		result, err = scanCmd(args[1:])
	case "recover":
		result, err = recoverCmd(args[1:])
	case "write":
		result, err = writeCmd(args[1:])
	case "bbolt-write":
		result, err = bboltWriteCmd(args[1:])
	case "bbolt-check":
		result, err = bboltCheckCmd(args[1:])
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return 0
	default:
		err = &usageError{fmt.Sprintf("unknown command %q", args[0])}
	}
	if err != nil {
		return fail(stdout, stderr, err)
	}
	out, _ := json.Marshal(result)
	fmt.Fprintln(stdout, string(out))
	return 0
}

func fail(stdout, stderr io.Writer, err error) int {
	code, corrupted := 1, false
	switch e := err.(type) {
	case *usageError:
		code = 2
		fmt.Fprintln(stderr, "storectl: "+e.msg)
		fmt.Fprintln(stderr, usage)
	case *engineError:
		corrupted = e.corrupted
	}
	out, _ := json.Marshal(map[string]any{"error": err.Error(), "corrupted": corrupted})
	fmt.Fprintln(stdout, string(out))
	return code
}

// flags parses a command's flags; every command needs --dir, and positional arguments are refused
// (a stray word is a mistake, not a second directory).
func flags(name string, args []string, define func(fs *flag.FlagSet)) (dir string, err error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&dir, "dir", "", "store directory")
	define(fs)
	if err := fs.Parse(args); err != nil {
		return "", &usageError{fmt.Sprintf("%s: %v", name, err)}
	}
	if fs.NArg() > 0 {
		return "", &usageError{fmt.Sprintf("%s: unexpected argument %q", name, fs.Arg(0))}
	}
	if dir == "" {
		return "", &usageError{name + ": --dir is required"}
	}
	return dir, nil
}

func checkEngine(name, engine string) error {
	if engine != "goleveldb" && engine != "pebble" {
		return &usageError{fmt.Sprintf("%s: --engine must be goleveldb or pebble, not %q", name, engine)}
	}
	return nil
}
