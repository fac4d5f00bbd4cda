package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/cockroachdb/errors"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/syndtr/goleveldb/leveldb"
	lerrors "github.com/syndtr/goleveldb/leveldb/errors"
	"github.com/syndtr/goleveldb/leveldb/opt"
)

type scanResult struct {
	Engine string `json:"engine"`
	Keys   int    `json:"keys"`
	Digest string `json:"digest"`
}

// scan opens the store read-only with the engine's default strictness and iterates every key:
// "does the real engine open this store, and what does it hold". --ignore-checksums (goleveldb)
// reads with no strictness at all: the most keys the engine can still decode, which is what "keys
// lost" is counted against, not how an application reads.
func scanCmd(args []string) (any, error) {
	var engine string
	var ignoreChecksums bool
	dir, err := flags("scan", args, func(fs *flag.FlagSet) {
		fs.StringVar(&engine, "engine", "", "goleveldb or pebble")
		fs.BoolVar(&ignoreChecksums, "ignore-checksums", false, "goleveldb: read with opt.NoStrict (block checksums not verified)")
	})
	if err != nil {
		return nil, err
	}
	if err := checkEngine("scan", engine); err != nil {
		return nil, err
	}
	if ignoreChecksums && engine != "goleveldb" {
		return nil, &usageError{"scan: --ignore-checksums is for goleveldb only"}
	}
	var d *digest
	if engine == "goleveldb" {
		d, err = scanLevel(dir, ignoreChecksums)
	} else {
		d, err = scanPebble(dir)
	}
	if err != nil {
		return nil, err
	}
	return scanResult{Engine: engine, Keys: d.keys, Digest: d.sum()}, nil
}

func levelError(err error) error {
	return &engineError{err: err, corrupted: lerrors.IsCorrupted(err)}
}

func scanLevel(dir string, ignoreChecksums bool) (*digest, error) {
	stor, rename, cleanup, err := openLevelStorage(dir)
	if err != nil {
		return nil, levelError(err)
	}
	defer cleanup()
	wrap := func(err error) error {
		return &engineError{err: errors.New(rename(err.Error())), corrupted: lerrors.IsCorrupted(err)}
	}
	// Strict left zero: goleveldb's DefaultStrict, what an application opening the store gets.
	o := &opt.Options{ReadOnly: true, ErrorIfMissing: true}
	if ignoreChecksums {
		o.Strict = opt.NoStrict
	}
	db, err := leveldb.Open(stor, o)
	if err != nil {
		stor.Close()
		return nil, wrap(err)
	}
	defer stor.Close()
	defer db.Close()
	d := newDigest()
	it := db.NewIterator(nil, nil)
	for it.Next() {
		d.add(it.Key(), it.Value())
	}
	it.Release()
	if err := it.Error(); err != nil {
		return nil, wrap(err)
	}
	return d, nil
}

// pebbleError keeps the message's first line: cockroachdb/errors may append a verbose rendering
// ("\n(1) …" with stack traces), and a read corruption is joined with a "<corruption detail
// carrier>" whose file path and key bounds we add in words instead.
func pebbleError(err error) error {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	if info := pebble.ExtractDataCorruptionInfo(err); info != nil {
		msg = fmt.Sprintf("%s (file %s, keys %s)", msg, info.Path, info.Bounds.String())
	}
	return &engineError{err: errors.New(msg), corrupted: errors.Is(err, pebble.ErrCorruption)}
}

func scanPebble(dir string) (_ *digest, err error) {
	db, err := pebble.Open(dir, &pebble.Options{
		ReadOnly:         true,
		ErrorIfNotExists: true,
		FS:               readOnlyFS{vfs.Default},
		Logger:           quietLogger{},
		// Pebble's default listener answers a detected corruption with Logger.Fatalf (the process
		// exits); a no-op lets the read fail with the engine's error, which is what we report.
		EventListener: &pebble.EventListener{DataCorruption: func(pebble.DataCorruptionInfo) {}},
	})
	if err != nil {
		return nil, pebbleError(err)
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = pebbleError(cerr)
		}
	}()
	it, err := db.NewIter(nil)
	if err != nil {
		return nil, pebbleError(err)
	}
	d := newDigest()
	for ok := it.First(); ok; ok = it.Next() {
		v, verr := it.ValueAndErr()
		if verr != nil {
			it.Close()
			return nil, pebbleError(verr)
		}
		d.add(it.Key(), v)
	}
	if err := it.Close(); err != nil {
		return nil, pebbleError(err)
	}
	return d, nil
}
