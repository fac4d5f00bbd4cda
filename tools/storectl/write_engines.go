package main

import (
	"fmt"
	"log"
	"math"
	"os"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
)

func writeLevel(s writeSpec) (err error) {
	o := &opt.Options{
		ErrorIfExist: true,
		WriteBuffer:  s.memBytes(),
		// No compaction of its own and no split of a flushed chunk: the tables are the flushes
		// asked for, one each (CompactRange below rewrites each flush once into level 1, and would
		// cut it at CompactionTableSize, 2 MiB by default; level sizes would start more merges).
		CompactionTableSize:    1 << 30,
		CompactionTotalSize:    1 << 40,
		CompactionL0Trigger:    math.MaxInt32,
		WriteL0SlowdownTrigger: math.MaxInt32,
		WriteL0PauseTrigger:    math.MaxInt32,
	}
	if s.noCompression {
		o.Compression = opt.NoCompression
	}
	db, err := leveldb.OpenFile(s.dir, o)
	if err != nil {
		return levelError(err)
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = levelError(cerr)
		}
	}()
	put := func(lo, hi int) error {
		for _, b := range s.batches(lo, hi) {
			batch := new(leveldb.Batch)
			for i := b[0]; i < b[1]; i++ {
				batch.Put(s.key(i), s.value(i))
			}
			if err := db.Write(batch, nil); err != nil {
				return levelError(err)
			}
		}
		return nil
	}
	flushed, wal := s.chunks()
	for _, c := range flushed {
		if err := put(c[0], c[1]); err != nil {
			return err
		}
		// goleveldb has no Flush: CompactRange over exactly this chunk's keys rotates the memdb
		// (it overlaps the range), writes it as a table and journals a new MANIFEST record; the
		// range overlaps no earlier table, so nothing else is merged.
		r := util.Range{Start: s.key(c[0]), Limit: append(s.key(c[1]-1), 0)}
		if err := db.CompactRange(r); err != nil {
			return levelError(err)
		}
	}
	return put(wal[0], wal[1])
}

func writePebble(s writeSpec) (err error) {
	format, err := s.pebbleFormatVersion(int(pebble.FormatNewest))
	if err != nil {
		return err
	}
	o := &pebble.Options{
		ErrorIfExists:               true,
		MemTableSize:                uint64(s.memBytes()),
		DisableAutomaticCompactions: true,
		L0CompactionThreshold:       math.MaxInt32,
		L0CompactionFileThreshold:   math.MaxInt32,
		L0StopWritesThreshold:       math.MaxInt32,
		FormatMajorVersion:          pebble.FormatMajorVersion(format),
		Logger:                      quietLogger{},
	}
	if s.noCompression {
		for i := range o.Levels {
			o.Levels[i].Compression = func() *sstable.CompressionProfile { return sstable.NoCompression }
		}
	}
	db, err := pebble.Open(s.dir, o)
	if err != nil {
		return pebbleError(err)
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = pebbleError(cerr)
		}
	}()
	put := func(lo, hi int) error {
		for _, b := range s.batches(lo, hi) {
			batch := db.NewBatch()
			for i := b[0]; i < b[1]; i++ {
				batch.Set(s.key(i), s.value(i), nil)
			}
			// Synced like an application's commit: the records are in the WAL file when we close.
			if err := batch.Commit(pebble.Sync); err != nil {
				return pebbleError(err)
			}
		}
		return nil
	}
	flushed, wal := s.chunks()
	for _, c := range flushed {
		if err := put(c[0], c[1]); err != nil {
			return err
		}
		if err := db.Flush(); err != nil {
			return pebbleError(err)
		}
	}
	// Pebble does not flush the memtable on Close: these stay in the (recyclable-header) WAL.
	return put(wal[0], wal[1])
}

// quietLogger drops Pebble's info lines (stdout carries the JSON answer, stderr stays readable).
// Fatalf answers like any other engine failure instead of the default logger's bare exit.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Errorf(format string, args ...any) {
	log.New(os.Stderr, "pebble: ", 0).Printf(format, args...)
}
func (quietLogger) Fatalf(format string, args ...any) {
	corrupted := false
	for _, a := range args {
		if e, ok := a.(error); ok && pebbleError(e).(*engineError).corrupted {
			corrupted = true
		}
	}
	os.Exit(fail(os.Stdout, os.Stderr, &engineError{err: fmt.Errorf(format, args...), corrupted: corrupted}))
}
