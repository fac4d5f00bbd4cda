// Runbook input schemas. The workflow validates with these before any step, and the CLI, chat bot
// and API validate with the same ones before starting, so every surface reports the same errors.
import { z } from 'zod';
import { absolutePath as specAbsolutePath, checkName, MAX_CHECKS, refName, serviceRef } from './service-spec';
import { normalizePath, pathResource, serviceResources, serviceTarget, type Resource } from './targets';

export { containerService, execService, httpCheck, systemdService, type HttpCheck, type ServiceRef, type ServiceSpec } from './service-spec';

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const duration = z
  .string()
  .regex(/^\d{1,9}(ms|s|m|h|d)$/, 'must be a duration such as "90s", "15m" or "24h"');
const durationMs = (text: string) => {
  const [, count, unit] = /^(\d+)(ms|s|m|h|d)$/.exec(text)!;
  return Number(count) * UNIT_MS[unit as keyof typeof UNIT_MS];
};
const atMost = (limit: string) => duration.refine((d) => durationMs(d) <= durationMs(limit), `must be at most ${limit}`);

/** Fields every runbook takes. */
export const baseInput = z.strictObject({
  mode: z.enum(['plan', 'apply']).default('plan')
    .describe('plan: read-only diagnosis that returns the plan; apply: diagnose, approve, then change'),
  approval: z.enum(['required', 'auto']).default('required')
    .describe('required: a second person approves the plan through the approve update'),
  approvalTimeout: atMost('7d').default('1h').describe('how long to wait for approval before ending with nothing changed'),
  requestedBy: z.string().min(1).max(200).optional().describe('who asked for this run (TriggeredBy); recorded as unverified:<name> unless `request` carries a valid signature'),
  request: z.strictObject({ signature: z.string().max(8192), at: z.iso.datetime() }).optional()
    .describe("the requester's SSH signature over the request (runbook start --key signs it)"),
  host: z.string().regex(/^[A-Za-z0-9._-]{1,253}$/, 'must be a hostname').optional()
    .describe('host whose worker runs the steps; default: the host of the machine that starts the run (CLI, API or chat server); required when starting from the Web UI'),
  hostWaitTimeout: atMost('1h').default('2m')
    .describe('how long a step waits for a worker on the host to pick it up before the run fails with "no worker serves <queue>"'),
  compensationTimeout: atMost('7d').default('30m')
    .describe('how long an undo step keeps retrying before the run ends CompensationFailed'),
});

const absolutePath = specAbsolutePath;

/** The host's declared checks a run runs; default: all of them. */
const checkNames = z.array(checkName).max(MAX_CHECKS).optional()
  .describe("which of the service's declared checks to run, by name; default: every declared check");

export const serviceRestartInput = baseInput.extend({
  service: serviceRef.describe('a service declared in the host\'s services file, by name: "images-api"'),
  checks: checkNames,
  waitDownSeconds: z.number().int().positive().max(3600).default(60),
  waitHealthySeconds: z.number().int().positive().max(3600).default(120),
});

export const lanceRestoreInput = baseInput.extend({
  tableDir: absolutePath.describe('the Lance table directory, e.g. /srv/app/db/images.lance'),
  lfsRepo: absolutePath.optional().describe('git repository whose LFS store holds the data files; default: the git top level of tableDir'),
  quarantineDir: absolutePath.optional()
    .describe('where moved and snapshotted files go; default: .runbook-quarantine beside the table (same filesystem, outside the table)'),
  strategy: z.enum(['full-restore', 'fallback', 'auto']).default('auto')
    .describe('full-restore: copy every missing file from LFS; fallback: quarantine broken newer versions; auto: full restore if every file is restorable, else fallback after approval'),
  expectedRows: z.number().int().min(0).optional().describe('rows the repaired table must have'),
  restorePauseMs: z.number().int().min(0).max(60_000).default(0).describe('pause between restored files, to spare a disk that serves other work'),
  service: serviceRef.optional().describe('the backend that reads the table, declared in the host\'s services file: stopped before files change, started after'),
  checks: checkNames,
  waitDownSeconds: z.number().int().positive().max(3600).default(60),
  waitHealthySeconds: z.number().int().positive().max(3600).default(120),
});

export const logStoreRecoverInput = baseInput.extend({
  dir: absolutePath.describe('the LevelDB or Pebble store directory, e.g. /srv/app/data/index.db'),
  engine: z.enum(['goleveldb', 'pebble']).describe('the engine that writes the store (its own code opens and recovers it)'),
  policy: z.enum(['truncate-only', 'strict', 'rebuild']).default('truncate-only')
    .describe('what may be done beyond cutting a torn tail: truncate-only: nothing (stop with the report); strict: goleveldb Recover with StrictRecovery (corrupted tables dropped); rebuild: goleveldb Recover (corrupted tables rebuilt from their good keys)'),
  quarantineDir: absolutePath.optional()
    .describe('where the snapshot and the damaged store go; default: .runbook-quarantine beside the store (same filesystem, so the swap is a rename)'),
  service: serviceRef.optional().describe('the service that owns the store, declared in the host\'s services file: stopped before the store changes, started after'),
  checks: checkNames,
  waitDownSeconds: z.number().int().positive().max(3600).default(60),
  waitHealthySeconds: z.number().int().positive().max(3600).default(120),
});

/** An etcd client URL: scheme, host and port, nothing else (etcdctl --endpoints). */
const etcdUrl = z.string().max(300).regex(/^https?:\/\/[A-Za-z0-9.-]{1,253}:\d{1,5}$/, 'must be an etcd client URL such as http://127.0.0.1:2379 (scheme, host, port)');
const etcdMember = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be an etcd member name (--name) of letters, digits, ".", "_" or "-"');

export const etcdRecoverInput = baseInput.extend({
  dataDir: absolutePath.describe("etcd's --data-dir, the folder holding member/, e.g. /var/lib/etcd/default.etcd"),
  member: etcdMember.default('default').describe("etcd's --name"),
  clientUrl: etcdUrl.describe('where the repaired etcd answers, to verify its revision and key count: http://127.0.0.1:2379'),
  peerUrl: etcdUrl.default('http://localhost:2380').describe("the member's --initial-advertise-peer-urls, for a data dir restored from a snapshot"),
  snapshotDir: absolutePath.optional().describe('folder of `etcdctl snapshot save` files (etcdSnapshot writes them): the newest that checks clean is a candidate'),
  quarantineDir: absolutePath.optional()
    .describe('where the copy of member/ and the damaged data go; default: .runbook-quarantine beside the data dir (same filesystem, so the swap is a rename)'),
  service: serviceRef.describe("etcd, declared in the host's services file: stopped before the data dir changes, started after"),
  checks: checkNames,
  waitDownSeconds: z.number().int().positive().max(3600).default(60),
  waitHealthySeconds: z.number().int().positive().max(3600).default(120),
});

export const etcdSnapshotInput = baseInput.extend({
  clientUrl: etcdUrl.describe('the etcd to snapshot: http://127.0.0.1:2379'),
  member: etcdMember.default('default').describe('names the snapshot files: etcd-<member>-<time>.db'),
  snapshotDir: absolutePath.describe('folder for the snapshots, e.g. /var/backups/etcd'),
  keep: z.number().int().min(1).max(1000).default(7).describe('how many snapshots that check clean to keep; older ones this runbook wrote are deleted, never the newest good one'),
});

/** A compose project name as docker and podman accept it: lowercase letters, digits, "-", "_". */
const composeProject = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be a compose project name: lowercase letters, digits, "-" and "_", starting with a letter or digit');
/** A filesystem type as /proc/mounts names it (cifs, nfs4, ext4, fuse.sshfs). */
const fsType = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,31}$/, 'must be a filesystem type as /proc/mounts names it, e.g. cifs, nfs4, ext4');

export const fullBackupInput = baseInput.extend({
  target: absolutePath.describe('the folder packs are written into (one pack per run, named backup-<UTC time>), e.g. /mnt/backup/app'),
  targetFsType: fsType.optional().describe('the filesystem type the target must be mounted as (e.g. cifs): a plain folder where the share should be mounted is refused before anything is written'),
  sqlite: z.array(absolutePath).max(100).default([]).describe('sqlite databases to back up with SQLite\'s online backup (consistent while in use)'),
  volumes: z.array(absolutePath).max(100).default([]).describe('folders to pack, each as one tar'),
  compose: z.strictObject({ project: composeProject.optional(), file: absolutePath.optional() }).optional()
    .describe('the compose project whose images are saved: its name and/or its compose file'),
  includeImages: z.boolean().default(false).describe('save the compose project\'s images into images.tar; finding none is a failure, not a skip'),
  engine: z.enum(['docker', 'podman']).default('docker').describe('the container engine CLI (the host\'s services file may give its global options)'),
  keep: z.number().int().min(1).max(1000).default(7).describe('complete packs to keep; older complete packs are deleted, incomplete ones never touched'),
  spaceMargin: z.number().min(1).max(10).default(1.2).describe('free space needed on the target: the estimate times this'),
}).refine((i) => i.sqlite.length + i.volumes.length > 0 || i.includeImages, { message: 'nothing to back up: give sqlite, volumes or includeImages', path: ['sqlite'] })
  .refine((i) => !i.includeImages || i.compose?.project || i.compose?.file, { message: 'includeImages needs compose.project or compose.file', path: ['compose'] });

export const verifyBackupInput = baseInput.extend({
  pack: absolutePath.describe('a complete pack folder written by fullBackup (it holds manifest.json); images.tar is loaded by podman into a throwaway storage'),
});

export type BaseInput = z.output<typeof baseInput>;
export type ServiceRestartInput = z.output<typeof serviceRestartInput>;
/** What a caller sends: defaults may be left out. */
export type ServiceRestartRequest = z.input<typeof serviceRestartInput>;
export type LanceRestoreInput = z.output<typeof lanceRestoreInput>;
export type LanceRestoreRequest = z.input<typeof lanceRestoreInput>;
export type LogStoreRecoverInput = z.output<typeof logStoreRecoverInput>;
export type LogStoreRecoverRequest = z.input<typeof logStoreRecoverInput>;
export type EtcdRecoverInput = z.output<typeof etcdRecoverInput>;
export type EtcdRecoverRequest = z.input<typeof etcdRecoverInput>;
export type EtcdSnapshotInput = z.output<typeof etcdSnapshotInput>;
export type EtcdSnapshotRequest = z.input<typeof etcdSnapshotInput>;
export type FullBackupInput = z.output<typeof fullBackupInput>;
export type FullBackupRequest = z.input<typeof fullBackupInput>;
export type VerifyBackupInput = z.output<typeof verifyBackupInput>;
export type VerifyBackupRequest = z.input<typeof verifyBackupInput>;

interface RunbookSpec {
  input: z.ZodType<BaseInput & { host?: string }>;
  description: string;
  /**
   * What one run repairs (the workflow ID is `<runbook>:<target>`, so two runs never share one),
   * every resource it changes (claimed for the run's lifetime), and a one-line summary.
   */
  describe(input: any, host: string): { target: string; resources: Resource[]; summary: string };
  /** Its resources are claimed in plan mode too: a read-only runbook whose plan is the work (a pack a prune must not delete under it). */
  claimsWhilePlanning?: true;
}

/** Every runbook the worker serves: its input schema and how its target is named. */
const runbookSpecs = {
  serviceRestart: {
    input: serviceRestartInput,
    description: 'Stop a service, wait until it is down, start it, wait until healthy, run smoke checks.',
    describe: (input: ServiceRestartInput, host: string) => ({
      target: serviceTarget(host, input.service),
      resources: serviceResources(host, input.service),
      summary: `restart service ${refName(input.service)} on ${host}`,
    }),
  },
  lanceRestore: {
    input: lanceRestoreInput,
    description: 'Repair a Lance table whose newest manifest needs data files missing from disk: restore them from git-LFS, or fall back to the newest complete version.',
    describe: (input: LanceRestoreInput, host: string) => ({
      target: `${host}/lance:${normalizePath(input.tableDir)}`,
      resources: [pathResource(host, input.tableDir), ...(input.service ? serviceResources(host, input.service) : [])],
      summary: `repair Lance table ${normalizePath(input.tableDir)} on ${host}`,
    }),
  },
  logStoreRecover: {
    input: logStoreRecoverInput,
    description: 'Recover a LevelDB (goleveldb) or Pebble store after a crash: cut a torn tail, or recover by policy, counting the keys each choice loses; verified by the engine itself.',
    describe: (input: LogStoreRecoverInput, host: string) => ({
      target: `${host}/${input.engine}:${normalizePath(input.dir)}`,
      resources: [pathResource(host, input.dir), ...(input.service ? serviceResources(host, input.service) : [])],
      summary: `recover ${input.engine} store ${normalizePath(input.dir)} on ${host}`,
    }),
  },
  etcdRecover: {
    input: etcdRecoverInput,
    description: "Bring back a single-member etcd whose bbolt db is damaged (etcd will not start): check it, build candidates (the other meta page, surgery on the bad elements, the newest good snapshot), swap in the least-loss one, start and verify.",
    describe: (input: EtcdRecoverInput, host: string) => ({
      target: `${host}/etcd:${normalizePath(input.dataDir)}`,
      resources: [pathResource(host, input.dataDir), ...serviceResources(host, input.service)],
      summary: `recover etcd data ${normalizePath(input.dataDir)} on ${host}`,
    }),
  },
  etcdSnapshot: {
    input: etcdSnapshotInput,
    description: 'Save an etcd snapshot (etcdctl snapshot save), check it with the bbolt checker, keep the newest that check clean.',
    describe: (input: EtcdSnapshotInput, host: string) => ({
      target: `${host}/etcd-snapshot:${normalizePath(input.snapshotDir)}`,
      resources: [pathResource(host, input.snapshotDir)],
      summary: `snapshot etcd ${input.clientUrl} into ${normalizePath(input.snapshotDir)} on ${host}`,
    }),
  },
  fullBackup: {
    input: fullBackupInput,
    description: 'Back up sqlite databases (online), volume folders and a compose project\'s images into a pack with a verified manifest.json; refuses a target that is not the mount it should be or too small, and an empty image list.',
    describe: (input: FullBackupInput, host: string) => ({
      target: `${host}/backup:${normalizePath(input.target)}`,
      resources: [pathResource(host, input.target)],
      summary: `back up into ${normalizePath(input.target)} on ${host}`,
    }),
  },
  verifyBackup: {
    input: verifyBackupInput,
    description: 'Prove a fullBackup pack restores: every file against manifest.json, sqlite restored and integrity-checked, images.tar loaded into a throwaway podman storage with the same image IDs.',
    describe: (input: VerifyBackupInput, host: string) => ({
      target: `${host}/backup-verify:${normalizePath(input.pack)}`,
      resources: [pathResource(host, input.pack)],
      summary: `verify backup pack ${normalizePath(input.pack)} on ${host}`,
    }),
    claimsWhilePlanning: true,
  },
} as const satisfies Record<string, RunbookSpec>;

export type RunbookType = keyof typeof runbookSpecs;
export const runbooks: Record<RunbookType, RunbookSpec> = runbookSpecs;

export function isRunbookType(name: string): name is RunbookType {
  return Object.hasOwn(runbooks, name);
}

/** One line per problem, each naming the field: `service.pidFile: must be an absolute path`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const at = (path: PropertyKey[]) => path.map(String).join('.');
      // An unknown field is refused, not dropped: an old `smokeChecks` must not silently do nothing.
      if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => `${at([...issue.path, k])}: unknown field`).join('; ');
      return `${issue.path.length ? at(issue.path) : '(input)'}: ${issue.message}`;
    })
    .join('; ');
}
