package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
)

// digest hashes a store's contents in key order: for each pair, uvarint(len key) key
// uvarint(len value) value. The lengths make the encoding unambiguous, so two stores have the same
// digest exactly when they hold the same pairs; `write` and `scan` share it, so a test can tell
// whether an engine returns what was written.
type digest struct {
	h    hash.Hash
	keys int
	buf  [binary.MaxVarintLen64]byte
}

func newDigest() *digest { return &digest{h: sha256.New()} }

func (d *digest) add(key, value []byte) {
	d.h.Write(d.buf[:binary.PutUvarint(d.buf[:], uint64(len(key)))])
	d.h.Write(key)
	d.h.Write(d.buf[:binary.PutUvarint(d.buf[:], uint64(len(value)))])
	d.h.Write(value)
	d.keys++
}

func (d *digest) sum() string { return hex.EncodeToString(d.h.Sum(nil)) }
