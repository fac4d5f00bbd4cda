// Incident 002 rebuilt in a sandbox: a real etcd (the machine's own) holds keys written through its
// API, a snapshot is saved part way, and after etcd stops one branch page of its `key` bucket is
// pointed back at the bucket's root: the seed's cycle, on which etcd panics at start exactly as in
// the seed ("freepages: failed to get all reachable pages … multiple references").
import { open } from 'node:fs/promises';
import { BboltFile, checkBbolt } from '../format/bbolt/index';
import { branchChildren } from '../format/bbolt/references';
import { ELEMENT_SIZE, PAGE_HEADER_SIZE } from '../format/bbolt/layout';

/** Writes keys `<prefix>000000…` through etcd's gRPC gateway, 100 puts a transaction (etcd allows 128). */
export async function putEtcdKeys(url: string, from: number, count: number, { prefix = '/registry/pods/demo-', valueBytes = 1024 } = {}): Promise<void> {
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  for (let i = from; i < from + count; i += 100) {
    const success = [];
    for (let j = i; j < Math.min(i + 100, from + count); j++) {
      success.push({ request_put: { key: b64(`${prefix}${String(j).padStart(6, '0')}`), value: b64(`${j}:`.padEnd(valueBytes, 'v')) } });
    }
    const res = await fetch(`${url}/v3/kv/txn`, { method: 'POST', body: JSON.stringify({ success }), signal: AbortSignal.timeout(30_000) });
    if (res.status !== 200) throw new Error(`etcd ${url}: transaction of puts answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
  }
}

/**
 * Points element 0 of a branch page below the `key` bucket's root back at that root (the root's
 * own element 0 if it has no branch child). Returns the pages involved.
 */
export async function makeKeyBucketCycle(db: string): Promise<{ branch: number; root: number }> {
  const report = await checkBbolt(db);
  const root = report.stats.bucketKeys.find((b) => b.bucket === 'key')?.root;
  if (!root) throw new Error(`${db}: no key bucket with its own pages (is it an etcd db with enough keys?)`);
  const file = await BboltFile.open(db);
  let branch: number;
  try {
    const children = branchChildren(file, root);
    if (!children) throw new Error(`${db}: the key bucket's root ${root} is not a branch page`);
    branch = children.find((c) => branchChildren(file, c) !== null) ?? root;
  } finally {
    await file.close();
  }
  const pointer = Buffer.alloc(8);
  pointer.writeBigUInt64LE(BigInt(root));
  const fh = await open(db, 'r+');
  try {
    await fh.write(pointer, 0, 8, branch * report.pageSize + PAGE_HEADER_SIZE + 0 * ELEMENT_SIZE + 8);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return { branch, root };
}
