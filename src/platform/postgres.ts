// A throwaway PostgreSQL cluster made with Debian's own tools: initdb once into `<dir>/data`, then
// pg_ctl start/stop on 127.0.0.1:<port> with its socket in `<dir>/run`. The superuser and password
// are compose's (POSTGRES_USER/POSTGRES_PASSWORD of the postgres image); host connections need the
// password (scram-sha-256), as in the image. As root it runs as the `postgres` user, since
// PostgreSQL refuses to run as root.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chown, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { runStep, type ChildOptions } from './children';

export interface PostgresOptions {
  /** Folder of this cluster (data, socket, logs); made if missing, reused if initialised. */
  dir: string;
  port: number;
  user: string;
  password: string;
  /** Where initdb, pg_ctl and psql are: POSTGRES_BIN_DIR (set-up sets it), else Debian's newest. */
  binDir?: string;
}

export interface Postgres {
  readonly host: string;
  readonly port: number;
  /** The postmaster's pid while it runs (from postmaster.pid). */
  readonly pid: number | undefined;
  start(): Promise<void>;
  /** Fast shutdown (open sessions are ended), waiting until it is down. */
  stop(): Promise<void>;
  /** One SQL statement through psql over TCP, as the cluster's user; rows as tab-separated lines. */
  query(database: string, sql: string): Promise<string[]>;
}

export function postgresBinDir(): string {
  if (process.env.POSTGRES_BIN_DIR) return process.env.POSTGRES_BIN_DIR;
  const base = '/usr/lib/postgresql';
  const majors = existsSync(base) ? readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb'))) : [];
  const newest = majors.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error(`PostgreSQL is not installed (no ${base}/<version>/bin/initdb): apt-get install postgresql, or set POSTGRES_BIN_DIR`);
  return join(base, newest, 'bin');
}

/** uid/gid of the `postgres` user when we are root (Debian's package makes it), else undefined. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root, PostgreSQL needs the `postgres` user to run as (Debian\'s postgresql package makes it)');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

export async function startPostgres(options: PostgresOptions): Promise<Postgres> {
  const { dir, port, user, password } = options;
  const bin = options.binDir ?? postgresBinDir();
  const data = join(dir, 'data');
  const run = join(dir, 'run');
  const logs = join(dir, 'logs');
  const owner = runAs();
  const child: ChildOptions = { env: { PATH: `${bin}:/usr/bin:/bin`, LANG: 'C', LC_ALL: 'C' }, cwd: dir, ...owner };
  await mkdir(logs, { recursive: true });
  await mkdir(run, { recursive: true });
  if (owner) {
    // The postgres user must reach the folder and own what it writes.
    for (let up = dirname(dir); up !== dirname(up); up = dirname(up)) {
      if (!((await stat(up)).mode & 0o001)) throw new Error(`PostgreSQL runs as the postgres user, who cannot enter ${up} (mode ${((await stat(up)).mode & 0o777).toString(8)}): choose a cluster folder under folders others may enter (o+x)`);
    }
    for (const p of [dir, run, logs]) await chown(p, owner.uid, owner.gid);
  }

  if (!existsSync(join(data, 'PG_VERSION'))) {
    await rm(data, { recursive: true, force: true }); // a half-made one from an interrupted initdb
    const pwfile = join(dir, 'pwfile');
    await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    if (owner) await chown(pwfile, owner.uid, owner.gid);
    try {
      await runStep('PostgreSQL initdb', join(logs, 'initdb.log'), join(bin, 'initdb'), [
        '-D', data, '-U', user, `--pwfile=${pwfile}`, '--auth-host=scram-sha-256', '--auth-local=peer', '--encoding=UTF8', '--locale=C',
      ], child);
    } finally {
      await rm(pwfile, { force: true });
    }
  }

  // pg_ctl's output and the server's log in one file, which both we and the postgres user append to.
  const log = join(logs, 'postgres.log');
  await writeFile(log, '', { flag: 'a' });
  if (owner) await chown(log, owner.uid, owner.gid);
  const pgCtl = (step: string, args: string[]) => runStep(step, log, join(bin, 'pg_ctl'), ['-D', data, ...args], child);
  const isRunning = async () => (await execa(join(bin, 'pg_ctl'), ['status', '-D', data], { ...child, extendEnv: false, reject: false })).exitCode === 0;
  const pidNow = () => {
    try {
      const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      return pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  };
  const pg: Postgres = {
    host: '127.0.0.1',
    port,
    get pid() {
      return pidNow();
    },
    async start() {
      await pgCtl('PostgreSQL start', ['-l', log, '-w', '-t', '60', '-o', `-p ${port} -h 127.0.0.1 -k '${run}'`, 'start']);
    },
    async stop() {
      if (await isRunning()) await pgCtl('PostgreSQL stop', ['-m', 'fast', '-w', '-t', '60', 'stop']);
    },
    async query(database, sql) {
      const r = await execa(join(bin, 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', user, '-d', database, '-X', '-A', '-t', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
        env: { PGPASSWORD: password, PATH: '/usr/bin:/bin' },
        extendEnv: false,
        reject: false,
      });
      if (r.exitCode !== 0) throw new Error(`psql ${database}: ${sql}: ${r.stderr.trim()}`);
      return r.stdout.split('\n').filter(Boolean);
    },
  };
  // A postmaster left by a killed earlier run of this folder holds the data dir: ours, so stop it.
  if (await isRunning()) await pg.stop();
  await pg.start();
  return pg;
}
