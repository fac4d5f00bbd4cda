package main

// Read-only opening without writing a byte. Both engines' read-only modes still create the LOCK
// file when it is absent (goleveldb's newFileLock adds O_CREATE; Pebble's vfs Lock is os.Create,
// which also truncates an existing one), and a scan must leave the directory exactly as it was:
// the doctor compares stores before and after, and an empty directory that is "not a store" must
// stay empty. So: goleveldb opens an existing LOCK itself (read-only, shared lock), and a store
// without one is opened through a temporary directory of symlinks to its files; Pebble gets a vfs
// that refuses every write and locks an existing LOCK without creating or truncating it.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/syndtr/goleveldb/leveldb/storage"
	"golang.org/x/sys/unix"
)

// openLevelStorage opens dir as a read-only goleveldb storage. rename maps paths in the engine's
// messages back to dir when a symlink overlay was used; cleanup removes the overlay.
func openLevelStorage(dir string) (stor storage.Storage, rename func(string) string, cleanup func(), err error) {
	rename, cleanup = func(s string) string { return s }, func() {}
	info, statErr := os.Stat(dir)
	if _, lockErr := os.Lstat(filepath.Join(dir, "LOCK")); lockErr == nil || statErr != nil || !info.IsDir() {
		// LOCK is there (the engine opens it O_RDONLY and takes a shared lock), or dir is not a
		// directory at all: the engine's own open gives its own error.
		stor, err = storage.OpenFile(dir, true)
		return stor, rename, cleanup, err
	}
	overlay, err := os.MkdirTemp("", "storectl-ro-")
	if err != nil {
		return nil, rename, cleanup, err
	}
	cleanup = func() { os.RemoveAll(overlay) }
	abs, err := filepath.Abs(dir)
	if err != nil {
		cleanup()
		return nil, rename, func() {}, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		cleanup()
		return nil, rename, func() {}, err
	}
	for _, e := range entries {
		// goleveldb lists regular names only and never descends; directories stay out.
		if e.IsDir() {
			continue
		}
		if err := os.Symlink(filepath.Join(abs, e.Name()), filepath.Join(overlay, e.Name())); err != nil {
			cleanup()
			return nil, rename, func() {}, err
		}
	}
	rename = func(s string) string { return strings.ReplaceAll(s, overlay, dir) }
	stor, err = storage.OpenFile(overlay, true)
	if err != nil {
		cleanup()
		return nil, rename, func() {}, err
	}
	return stor, rename, cleanup, nil
}

// readOnlyFS is vfs.Default with every write refused: if Pebble's read-only mode ever tried to
// write, the scan fails with this error instead of changing the store.
type readOnlyFS struct{ vfs.FS }

func refused(op, name string) error {
	return fmt.Errorf("storectl: read-only scan refused to %s %s", op, name)
}

func (readOnlyFS) Create(name string, _ vfs.DiskWriteCategory) (vfs.File, error) {
	return nil, refused("create", name)
}
func (readOnlyFS) Link(oldname, newname string) error { return refused("link", newname) }
func (readOnlyFS) OpenReadWrite(name string, _ vfs.DiskWriteCategory, _ ...vfs.OpenOption) (vfs.File, error) {
	return nil, refused("open for writing", name)
}
func (readOnlyFS) Remove(name string) error                 { return refused("remove", name) }
func (readOnlyFS) RemoveAll(name string) error              { return refused("remove", name) }
func (readOnlyFS) Rename(oldname, newname string) error     { return refused("rename", oldname) }
func (readOnlyFS) MkdirAll(dir string, _ os.FileMode) error { return refused("create", dir) }
func (readOnlyFS) ReuseForWrite(oldname, newname string, _ vfs.DiskWriteCategory) (vfs.File, error) {
	return nil, refused("reuse", oldname)
}
func (readOnlyFS) Unwrap() vfs.FS { return nil }

// Lock takes a shared fcntl lock on an existing LOCK file opened read-only, so a scan still fails
// while a writer holds the store (Pebble's writer holds an exclusive lock), and does nothing when
// there is no LOCK file: no process that locks can have the store open then.
func (readOnlyFS) Lock(name string) (io.Closer, error) {
	f, err := os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return io.NopCloser(nil), nil
	}
	if err != nil {
		return nil, err
	}
	spec := unix.Flock_t{Type: unix.F_RDLCK, Whence: io.SeekStart}
	if err := unix.FcntlFlock(f.Fd(), unix.F_SETLK, &spec); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w (another process has the store open)", name, err)
	}
	return f, nil
}
