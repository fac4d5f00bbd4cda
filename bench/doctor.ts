// Doctor benchmark: `diagnoseLance` (what `runbook doctor lance` runs) on a healthy LanceDB table of
// many versions, against `table.listVersions()` of @lancedb/lancedb on the same table.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import { imageRows } from '../src/demo/lance-incident';
import { diagnoseLance } from '../src/engines/lance/doctor';
import type { Variant } from './harness';

export const OURS = 'ours: diagnoseLance';
export const OPEN_LIST = 'lancedb connect+open+listVersions';
/** Extra timing inside OPEN_LIST: listVersions() alone, the figure the target is judged on. */
export const LIST_ONLY = `${OPEN_LIST}:listVersions`;

export interface DoctorCase {
  versions: number;
  /** 'v1' (`1000.manifest`) or 'v2' (20 zero-padded digits): whatever lancedb wrote by default. */
  scheme: string;
  buildMs: number;
  variants: Variant[];
  cleanup(): Promise<void>;
}

const TABLE = 'images';

/** A table with `versions` versions: createTable, then one single-row `add` per version. Default storage options. */
export async function doctorCase(versions: number): Promise<DoctorCase> {
  const started = performance.now();
  const dbDir = await mkdtemp(join(tmpdir(), 'bench-doctor-'));
  const tableDir = join(dbDir, `${TABLE}.lance`);
  try {
    const db = await lancedb.connect(dbDir);
    const table = await db.createTable(TABLE, imageRows(0, 1));
    for (let id = 1; id < versions; id++) await table.add(imageRows(id, 1));
    if ((await table.version()) !== versions) throw new Error(`doctor table: at version ${await table.version()}, expected ${versions}`);
    table.close();
    db.close();
    const buildMs = performance.now() - started;
    const manifests = (await readdir(join(tableDir, '_versions'))).filter((f) => f.endsWith('.manifest'));
    const scheme = manifests.some((f) => /^\d{20}\.manifest$/.test(f)) ? 'v2' : 'v1';

    const ours: Variant = {
      name: OURS,
      run: async () => {
        const d = await diagnoseLance(tableDir);
        if (!d.healthy || d.currentVersion !== versions || d.versions.length !== versions) {
          throw new Error(`doctor: healthy=${d.healthy}, current ${d.currentVersion}, ${d.versions.length} versions; expected a healthy table of ${versions}`);
        }
      },
    };
    const lance: Variant = {
      name: OPEN_LIST,
      run: async () => {
        // A fresh connection and table every run: no session cache carries over.
        const conn = await lancedb.connect(dbDir);
        const t = await conn.openTable(TABLE);
        try {
          const start = performance.now();
          const list = await t.listVersions();
          const listMs = performance.now() - start;
          if (list.length !== versions) throw new Error(`listVersions gave ${list.length} versions, expected ${versions}`);
          return { listVersions: listMs };
        } finally {
          t.close();
          conn.close();
        }
      },
    };
    return { versions, scheme, buildMs, variants: [ours, lance], cleanup: () => rm(dbDir, { recursive: true, force: true }) };
  } catch (err) {
    await rm(dbDir, { recursive: true, force: true });
    throw err;
  }
}
