package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/syndtr/goleveldb/leveldb"
	lerrors "github.com/syndtr/goleveldb/leveldb/errors"
	"github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/storage"
	"github.com/syndtr/goleveldb/leveldb/table"
	"github.com/syndtr/goleveldb/leveldb/util"
)

type recoveredTable struct {
	File            string `json:"file"`
	GoodKeys        int    `json:"goodKeys"`
	CorruptedKeys   int    `json:"corruptedKeys"`
	CorruptedBlocks int    `json:"corruptedBlocks"`
	Action          string `json:"action"`
}

type recoverResult struct {
	Tables []recoveredTable `json:"tables"`
}

// recover runs goleveldb's RecoverFile: every manifest is ignored, every table scanned, the
// survivors put at level 0 under a new MANIFEST, then the journals replayed. Tables it drops are
// deleted by its janitor when the DB opens, so first we compute, per table, what Recover will see.
func recoverCmd(args []string) (any, error) {
	var strict, ignoreChecksums bool
	dir, err := flags("recover", args, func(fs *flag.FlagSet) {
		fs.BoolVar(&strict, "strict", false, "drop a corrupted table instead of rebuilding it (StrictRecovery)")
		fs.BoolVar(&ignoreChecksums, "ignore-checksums", false, "verify no block checksums (NoStrict): salvage every decodable key")
	})
	if err != nil {
		return nil, err
	}
	if strict && ignoreChecksums {
		return nil, &usageError{"recover: --strict and --ignore-checksums exclude each other"}
	}
	// Setting Strict replaces goleveldb's default rather than adding to it, so the value is built
	// whole: DefaultStrict keeps block checksums on (what an application gets), StrictRecovery on top
	// drops corrupted tables, NoStrict turns every check off.
	o := &opt.Options{Strict: opt.DefaultStrict}
	switch {
	case strict:
		o.Strict = opt.DefaultStrict | opt.StrictRecovery
	case ignoreChecksums:
		o.Strict = opt.NoStrict
	}
	tables, err := inspectTables(dir, o)
	if err != nil {
		return nil, levelError(err)
	}
	db, err := leveldb.RecoverFile(dir, o)
	if err != nil {
		return nil, levelError(err)
	}
	if err := db.Close(); err != nil {
		return nil, levelError(err)
	}
	return recoverResult{Tables: tables}, nil
}

// inspectTables reads every table file the way goleveldb v1.0.0's recoverTable (db.go) does:
// StrictReader masked off, the table package's reader with the same options, an iterator whose
// error callback counts corrupted blocks, keys that fail parseInternalKey counted as corrupted.
func inspectTables(dir string, o *opt.Options) ([]recoveredTable, error) {
	ro := *o
	ro.Strict &= ^opt.StrictReader
	strict := ro.GetStrict(opt.StrictRecovery)
	stor, err := storage.OpenFile(dir, true)
	if err != nil {
		return nil, err
	}
	defer stor.Close()
	fds, err := stor.List(storage.TypeTable)
	if err != nil {
		return nil, err
	}
	sort.Slice(fds, func(i, j int) bool { return fds[i].Num < fds[j].Num })
	bpool := util.NewBufferPool(ro.GetBlockSize() + 5)
	out := []recoveredTable{}
	for _, fd := range fds {
		t, err := inspectTable(stor, fileName(dir, fd), fd, &ro, bpool)
		if err != nil {
			return nil, err
		}
		// recoverTable's rule, in its order.
		corrupted := t.CorruptedKeys > 0 || t.CorruptedBlocks > 0
		switch {
		case strict && corrupted:
			t.Action = "dropped"
		case t.GoodKeys > 0 && corrupted:
			t.Action = "rebuilt"
		case t.GoodKeys > 0:
			t.Action = "kept"
		default:
			t.Action = "dropped"
		}
		out = append(out, t)
	}
	return out, nil
}

func inspectTable(stor storage.Storage, name string, fd storage.FileDesc, o *opt.Options, bpool *util.BufferPool) (recoveredTable, error) {
	t := recoveredTable{File: name}
	r, err := stor.Open(fd)
	if err != nil {
		return t, err
	}
	defer r.Close()
	size, err := r.Seek(0, 2)
	if err != nil {
		return t, err
	}
	tr, err := table.NewReader(r, size, fd, nil, bpool, o)
	if err != nil {
		return t, err
	}
	defer tr.Release()
	it := tr.NewIterator(nil, nil)
	defer it.Release()
	if setter, ok := it.(iterator.ErrorCallbackSetter); ok {
		setter.SetErrorCallback(func(err error) {
			if lerrors.IsCorrupted(err) {
				t.CorruptedBlocks++
			}
		})
	}
	for it.Next() {
		if validInternalKey(it.Key()) {
			t.GoodKeys++
		} else {
			t.CorruptedKeys++
		}
	}
	// A corrupted footer or index gives an empty iterator whose error is corruption: no keys, no
	// callback, and recoverTable ignores the error, so the table is dropped. Other errors stop it.
	if err := it.Error(); err != nil && !lerrors.IsCorrupted(err) {
		return t, err
	}
	return t, nil
}

// validInternalKey is goleveldb's parseInternalKey check (key.go): an 8-byte trailer of
// seq<<8|type with type ≤ keyTypeVal (1).
func validInternalKey(ik []byte) bool {
	return len(ik) >= 8 && ik[len(ik)-8] <= 1
}

// fileName is the name goleveldb reads the table from: .ldb, or .sst when only that exists
// (file_storage.go tries .ldb first, then C++ LevelDB's older .sst).
func fileName(dir string, fd storage.FileDesc) string {
	ldb := fmt.Sprintf("%06d.ldb", fd.Num)
	if _, err := os.Stat(filepath.Join(dir, ldb)); err == nil {
		return ldb
	}
	return fmt.Sprintf("%06d.sst", fd.Num)
}
