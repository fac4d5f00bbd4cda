package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// bboltSpec shapes a test bbolt db, written by the bbolt library itself so the TypeScript checker
// is tested on the engine's real page layout, not on our idea of it.
type bboltSpec struct {
	file        string
	keys        int
	buckets     int
	nested      bool
	valueBytes  int
	largeValues int
	seed        uint64
	noFreelist  bool
	pageSize    int
}

// txKeys is the keys per write transaction: many commits, so copy-on-write leaves freed pages and
// the meta pages hold different txids, as on a db that has lived.
const txKeys = 1000

func bboltWriteCmd(args []string) (any, error) {
	var s bboltSpec
	fs := newFlagSet("bbolt-write")
	fs.StringVar(&s.file, "file", "", "db file to create")
	fs.IntVar(&s.keys, "keys", -1, "number of keys")
	fs.IntVar(&s.buckets, "buckets", 1, "top-level buckets")
	fs.BoolVar(&s.nested, "nested", false, "per top bucket: a nested bucket (with one deeper), an inline one and an empty one")
	fs.IntVar(&s.valueBytes, "value-bytes", 100, "bytes per value")
	fs.IntVar(&s.largeValues, "large-values", 0, "about this many values bigger than 2 pages (overflow pages)")
	fs.Uint64Var(&s.seed, "seed", 1, "seed of the values")
	fs.BoolVar(&s.noFreelist, "no-freelist", false, "NoFreelistSync, as etcd: no freelist page is persisted")
	fs.IntVar(&s.pageSize, "page-size", 4096, "page size")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	switch {
	case s.file == "":
		return nil, &usageError{"bbolt-write: --file is required"}
	case s.keys < 0 || s.keys > maxKeys:
		return nil, &usageError{fmt.Sprintf("bbolt-write: --keys must be 0..%d", maxKeys)}
	case s.buckets < 1 || s.buckets > 1000:
		return nil, &usageError{"bbolt-write: --buckets must be 1..1000"}
	case s.valueBytes < 0 || s.largeValues < 0:
		return nil, &usageError{"bbolt-write: --value-bytes and --large-values must not be negative"}
	case s.pageSize < 1024 || s.pageSize&(s.pageSize-1) != 0:
		return nil, &usageError{"bbolt-write: --page-size must be a power of two ≥ 1024"}
	}
	// A test db is written into a new file only: never over a db.
	if _, err := os.Lstat(s.file); err == nil {
		return nil, &engineError{err: fmt.Errorf("bbolt-write: %s exists", s.file)}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, &engineError{err: err}
	}
	return writeBbolt(s)
}

// place is the bucket path of key i. Without --nested, key i is in bucket-(i mod B). With it, the
// first 2 keys of a bucket go to its "small" sub-bucket (small enough that bbolt writes it inline
// in its parent's leaf while it fits in a quarter page: 4 KiB pages and ≤ 400-byte values), every
// 4th to "nested" and every 16th to "nested/deeper" (real sub-bucket pages, two levels down).
func (s bboltSpec) place(i int) []string {
	top := fmt.Sprintf("bucket-%03d", i%s.buckets)
	j := i / s.buckets
	switch {
	case !s.nested:
		return []string{top}
	case j < 2:
		return []string{top, "small"}
	case j%16 == 15:
		return []string{top, "nested", "deeper"}
	case j%4 == 3:
		return []string{top, "nested"}
	}
	return []string{top}
}

// large says whether key i gets a value of 2 pages plus --value-bytes: spread evenly, never in an
// inline bucket (which must stay small to stay inline).
func (s bboltSpec) large(i int) bool {
	if s.largeValues == 0 {
		return false
	}
	step := max(1, s.keys/s.largeValues)
	return i%step == step-1 && s.place(i)[len(s.place(i))-1] != "small"
}

// gone says whether key i has a twin "gone-…" that is written, then deleted in a later
// transaction: freed pages, so a persisted freelist has entries.
func (s bboltSpec) gone(i int) bool { return i%10 == 5 && s.place(i)[len(s.place(i))-1] != "small" }

func (s bboltSpec) val(i int) []byte {
	n := s.valueBytes
	if s.large(i) {
		n += 2 * s.pageSize
	}
	return writeSpec{valueBytes: n, seed: s.seed}.value(i)
}

type bboltWriteResult struct {
	Keys        int            `json:"keys"`
	Buckets     map[string]int `json:"buckets"`
	LargeValues int            `json:"largeValues"`
	Deleted     int            `json:"deleted"`
	Pages       int64          `json:"pages"`
	PageSize    int            `json:"pageSize"`
}

func writeBbolt(s bboltSpec) (any, error) {
	db, err := bolt.Open(s.file, 0o600, &bolt.Options{NoFreelistSync: s.noFreelist, PageSize: s.pageSize, NoSync: true})
	if err != nil {
		return nil, &engineError{err: err}
	}
	defer db.Close()
	res := bboltWriteResult{Buckets: map[string]int{}}
	bucket := func(tx *bolt.Tx, path []string) (*bolt.Bucket, error) {
		b, err := tx.CreateBucketIfNotExists([]byte(path[0]))
		for _, name := range path[1:] {
			if err != nil {
				break
			}
			b, err = b.CreateBucketIfNotExists([]byte(name))
		}
		return b, err
	}
	// Every bucket exists even when --keys is small, and the empty ones stay empty (inline pages
	// with no elements).
	err = db.Update(func(tx *bolt.Tx) error {
		for b := 0; b < s.buckets; b++ {
			top := fmt.Sprintf("bucket-%03d", b)
			paths := [][]string{{top}}
			if s.nested {
				paths = append(paths, []string{top, "small"}, []string{top, "nested", "deeper"}, []string{top, "empty"})
			}
			for _, p := range paths {
				if _, err := bucket(tx, p); err != nil {
					return err
				}
				res.Buckets[strings.Join(p, "/")] += 0
			}
			if s.nested {
				res.Buckets[top+"/nested"] += 0
			}
		}
		return nil
	})
	for lo := 0; err == nil && lo < s.keys; lo += txKeys {
		err = db.Update(func(tx *bolt.Tx) error {
			for i := lo; i < min(lo+txKeys, s.keys); i++ {
				b, err := bucket(tx, s.place(i))
				if err == nil {
					err = b.Put([]byte(fmt.Sprintf("key-%06d", i)), s.val(i))
				}
				if err == nil && s.gone(i) {
					err = b.Put([]byte(fmt.Sprintf("gone-%06d", i)), s.val(i))
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	for lo := 0; err == nil && lo < s.keys; lo += 4 * txKeys {
		err = db.Update(func(tx *bolt.Tx) error {
			for i := lo; i < min(lo+4*txKeys, s.keys); i++ {
				if s.gone(i) {
					b, _ := bucket(tx, s.place(i))
					if err := b.Delete([]byte(fmt.Sprintf("gone-%06d", i))); err != nil {
						return err
					}
					res.Deleted++
				}
			}
			return nil
		})
	}
	if err == nil {
		err = db.View(func(tx *bolt.Tx) error {
			res.Pages = tx.Size() / int64(s.pageSize)
			return nil
		})
	}
	if err == nil {
		err = db.Close()
	}
	if err != nil {
		return nil, &engineError{err: err}
	}
	for i := 0; i < s.keys; i++ {
		res.Keys++
		res.Buckets[strings.Join(s.place(i), "/")]++
		if s.large(i) {
			res.LargeValues++
		}
	}
	res.PageSize = s.pageSize
	return res, nil
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseFlags refuses positional arguments: a stray word is a mistake, not a second file.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return &usageError{fmt.Sprintf("%s: %v", fs.Name(), err)}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	return nil
}
