package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
)

// writeSpec shapes a test store: N keys key-000000…, the first N-K flushed into about T table
// files (one flush per chunk), the last K left only in the WAL/journal.
type writeSpec struct {
	engine        string
	dir           string
	keys          int
	tables        int
	walKeys       int
	valueBytes    int
	seed          uint64
	noCompression bool
	pebbleFormat  string
	batchKeys     int
}

// maxKeys keeps "key-%06d" sorted in write order, so the digest of what was written is the digest
// scan computes in key order.
const maxKeys = 1_000_000

func writeCmd(args []string) (any, error) {
	var s writeSpec
	dir, err := flags("write", args, func(fs *flag.FlagSet) {
		fs.StringVar(&s.engine, "engine", "", "goleveldb or pebble")
		fs.IntVar(&s.keys, "keys", -1, "number of keys")
		fs.IntVar(&s.tables, "tables", 0, "table files to flush into (0: all in the WAL)")
		fs.IntVar(&s.walKeys, "wal-keys", 0, "last keys left only in the WAL (with --tables ≥ 1)")
		fs.IntVar(&s.valueBytes, "value-bytes", 100, "bytes per value")
		fs.Uint64Var(&s.seed, "seed", 1, "seed of the values")
		fs.BoolVar(&s.noCompression, "no-compression", false, "write table blocks uncompressed")
		fs.IntVar(&s.batchKeys, "batch-keys", 1000, "keys per write batch, one WAL/journal record each (fewer when the values pass 4 MiB)")
		fs.StringVar(&s.pebbleFormat, "pebble-format", "", "Pebble format major version: a number or newest (default: Pebble's)")
	})
	if err != nil {
		return nil, err
	}
	s.dir = dir
	if err := checkEngine("write", s.engine); err != nil {
		return nil, err
	}
	switch {
	case s.keys < 0 || s.keys > maxKeys:
		return nil, &usageError{fmt.Sprintf("write: --keys must be 0..%d", maxKeys)}
	case s.tables < 0 || s.walKeys < 0 || s.valueBytes < 0:
		return nil, &usageError{"write: --tables, --wal-keys and --value-bytes must not be negative"}
	case s.batchKeys < 1:
		return nil, &usageError{"write: --batch-keys must be at least 1"}
	case s.walKeys > s.keys:
		return nil, &usageError{"write: --wal-keys must not exceed --keys"}
	case s.pebbleFormat != "" && s.engine != "pebble":
		return nil, &usageError{"write: --pebble-format is for --engine pebble"}
	}
	if s.tables == 0 {
		s.walKeys = s.keys
	}
	// A test store is written into a new or empty directory only: never over a store.
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, &engineError{err: fmt.Errorf("write: %s is not empty", dir)}
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, &engineError{err: err}
	}
	if s.engine == "goleveldb" {
		err = writeLevel(s)
	} else {
		err = writePebble(s)
	}
	if err != nil {
		return nil, err
	}
	d := newDigest()
	for i := 0; i < s.keys; i++ {
		d.add(s.key(i), s.value(i))
	}
	return writeResult{Keys: d.keys, Digest: d.sum()}, nil
}

type writeResult struct {
	Keys   int    `json:"keys"`
	Digest string `json:"digest"`
}

func (s writeSpec) key(i int) []byte { return []byte(fmt.Sprintf("key-%06d", i)) }

// value is B bytes of splitmix64 output seeded by (seed, i): the same for a key whatever the
// write order, and incompressible, so table sizes track --keys and --value-bytes.
func (s writeSpec) value(i int) []byte {
	v := make([]byte, s.valueBytes+8)
	x := s.seed*0x9e3779b97f4a7c15 + uint64(i)
	for off := 0; off < s.valueBytes; off += 8 {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		binary.LittleEndian.PutUint64(v[off:], z^(z>>31))
	}
	return v[:s.valueBytes]
}

// chunks returns the key ranges [lo, hi) flushed one table each, then the WAL-only range.
func (s writeSpec) chunks() (flushed [][2]int, wal [2]int) {
	n := s.keys - s.walKeys
	for t := 0; t < s.tables; t++ {
		lo, hi := t*n/s.tables, (t+1)*n/s.tables
		if hi > lo {
			flushed = append(flushed, [2]int{lo, hi})
		}
	}
	return flushed, [2]int{n, s.keys}
}

// batchBytes bounds a batch's values, so big values do not make one huge batch in memory.
const batchBytes = 4 << 20

// batches cuts [lo, hi) into write batches of --batch-keys keys, or fewer when their values pass
// batchBytes: each batch is one record in the WAL/journal.
func (s writeSpec) batches(lo, hi int) (out [][2]int) {
	per := s.batchKeys
	if s.valueBytes > 0 && per > batchBytes/s.valueBytes {
		per = max(1, batchBytes/s.valueBytes)
	}
	for b := lo; b < hi; b += per {
		out = append(out, [2]int{b, min(b+per, hi)})
	}
	return out
}

// memBytes is a write buffer big enough that the engine never flushes by itself: the only flushes
// are the ones asked for, so the table count follows --tables.
func (s writeSpec) memBytes() int {
	b := s.keys*(s.valueBytes+64) + 8<<20
	if b > 1<<30 {
		b = 1 << 30
	}
	return b
}

func (s writeSpec) pebbleFormatVersion(newest int) (int, error) {
	if s.pebbleFormat == "" {
		return 0, nil
	}
	if s.pebbleFormat == "newest" {
		return newest, nil
	}
	n, err := strconv.Atoi(s.pebbleFormat)
	if err != nil || n < 1 {
		return 0, &usageError{fmt.Sprintf("write: --pebble-format %q is not a format major version", s.pebbleFormat)}
	}
	return n, nil
}
