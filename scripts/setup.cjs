#!/usr/bin/env node
// Set-up shared by `npm start` and `npm test` on a fresh clone: the Debian packages the command needs
// (installed with apt-get when running as root, else exit 2 with the command to run), npm
// dependencies, then the Temporal CLI (PATH or TEMPORAL_CLI, else built once with Go into
// .tools/bin), storectl (tools/storectl, built with Go into .tools/bin and rebuilt when its
// sources change) and the bbolt CLI (pinned v1.4.3, `go install`ed into .tools/bin), then runs the
// given command with TEMPORAL_CLI, STORECTL and BBOLT_CLI pointing at them. The cluster scripts
// (stack:cluster, test:cluster, bench) also get the Temporal server, its SQL schema tool and the Web
// UI server at pinned versions (TEMPORAL_SERVER_BIN, TEMPORAL_SQL_TOOL, TEMPORAL_UI_SERVER) and
// Debian's PostgreSQL (POSTGRES_BIN_DIR).
// Plain Node and no dependencies: it runs before they exist.
'use strict';
const { spawnSync, spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const TEMPORAL_VERSION = '1.5.1'; // newer tags cannot be built with `go install` (replace directive)
const toolsBin = path.join(root, '.tools', 'bin');
const say = (msg) => process.stderr.write(`setup: ${msg}\n`);

function fail(msg) {
  say(msg);
  process.exit(2);
}

function onPath(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (dir && fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

// Debian packages, each with how to tell it is there. The UI test launches CHROMIUM_PATH (default
// /usr/bin/chromium), so a chromium found elsewhere on PATH is handed to it through that variable.
/** Debian's PostgreSQL binaries (/usr/lib/postgresql/<major>/bin, newest major), or POSTGRES_BIN_DIR. */
function postgresBin() {
  if (process.env.POSTGRES_BIN_DIR) return fs.existsSync(path.join(process.env.POSTGRES_BIN_DIR, 'initdb')) ? process.env.POSTGRES_BIN_DIR : undefined;
  const base = '/usr/lib/postgresql';
  const majors = fs.existsSync(base) ? fs.readdirSync(base).filter((v) => fs.existsSync(path.join(base, v, 'bin', 'initdb'))) : [];
  const newest = majors.sort((a, b) => Number(b) - Number(a))[0];
  return newest ? path.join(base, newest, 'bin') : undefined;
}
const chromiumPath = () => (process.env.CHROMIUM_PATH && fs.existsSync(process.env.CHROMIUM_PATH) ? process.env.CHROMIUM_PATH : onPath('chromium'));
const PACKAGES = {
  git: () => onPath('git'),
  'git-lfs': () => onPath('git-lfs'), // incident tables are built in git-LFS repositories
  podman: () => onPath('podman'), // the container adapter's tests drive the real CLI
  chromium: chromiumPath, // the Web UI test drives a real browser
  'openssh-client': () => onPath('ssh-keygen'), // approvals are signed and verified with ssh-keygen -Y
  'etcd-server': () => onPath('etcd'), // the bbolt checker is tested on a real etcd's member/snap/db
  'etcd-client': () => onPath('etcdctl'), // etcdRecover and etcdSnapshot drive etcdctl
  sqlite3: () => onPath('sqlite3'), // fullBackup's online backup and integrity_check
  postgresql: postgresBin, // the cluster topology's database (initdb, pg_ctl)
  openssl: () => onPath('openssl'), // the cluster's mTLS test makes its CA and certificates
};

// What each npm script needs. `npm start` itself runs only Node programs; its worker's runbooks
// call git-lfs (lanceRestore, runbook demo lance), etcdctl (etcdRecover, etcdSnapshot; etcd itself
// for runbook demo etcd) and sqlite3 (fullBackup).
const NEEDS = {
  start: ['git', 'git-lfs', 'etcd-server', 'etcd-client', 'sqlite3'],
  test: ['git', 'git-lfs', 'podman', 'chromium', 'openssh-client', 'etcd-server', 'etcd-client', 'sqlite3'],
  'record-history': ['git', 'git-lfs', 'etcd-server', 'etcd-client', 'sqlite3'],
  bench: ['git', 'git-lfs', 'podman', 'sqlite3', 'postgresql'],
  // The production topology on one machine: PostgreSQL, and the worker's tools as for `npm start`.
  'stack:cluster': ['git', 'git-lfs', 'etcd-server', 'etcd-client', 'sqlite3', 'postgresql'],
  'test:cluster': ['git', 'git-lfs', 'etcd-server', 'etcd-client', 'sqlite3', 'postgresql', 'openssl'],
};

function scriptName(commandArgs) {
  if (process.env.npm_lifecycle_event in NEEDS) return process.env.npm_lifecycle_event;
  // Run directly (`node scripts/setup.cjs tsx test/run.ts`): go by the program it starts.
  if (commandArgs.includes('test/run.ts')) return commandArgs.includes('--record-history') ? 'record-history' : 'test';
  if (commandArgs.includes('src/stack.ts')) return 'start';
  if (commandArgs.includes('bench/run.ts')) return 'bench';
  if (commandArgs.includes('src/stack-cluster.ts')) return 'stack:cluster';
  if (commandArgs.includes('test/run-cluster.ts')) return 'test:cluster';
  return undefined;
}

function ensureSystemPackages(script) {
  const missing = () => (NEEDS[script] || []).filter((name) => !PACKAGES[name]());
  const wanted = missing();
  if (!wanted.length) return;
  const list = wanted.join(' ');
  const apt = onPath('apt-get');
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!apt) {
    fail(`npm ${script} needs packages that are not installed: ${wanted.join(', ')}; apt-get is not available to install them. Install them with your package manager, then run npm ${script} again (on Debian or Ubuntu: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${list})`);
  }
  if (!isRoot) {
    fail(`npm ${script} needs packages that are not installed: ${wanted.join(', ')}. Install them, then run npm ${script} again:\n  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${list}`);
  }
  say(`installing Debian packages for npm ${script}: ${list}`);
  // Non-interactive, and waiting for a dpkg lock another install holds instead of failing at once.
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const lock = ['-o', 'DPkg::Lock::Timeout=600'];
  const run = (args) => spawnSync(apt, [...lock, ...args], { stdio: 'inherit', env }).status === 0;
  if (!run(['update', '-qq'])) fail(`apt-get update failed (see above); fix it, then run: apt-get install -y --no-install-recommends ${list}`);
  if (!run(['install', '-y', '-qq', '--no-install-recommends', ...wanted])) fail(`apt-get install of ${list} failed (see above)`);
  const still = missing();
  if (still.length) fail(`installed ${list}, but ${still.join(', ')} still cannot be found on PATH`);
}

function ensureDependencies() {
  const installed = path.join(root, 'node_modules', '.package-lock.json');
  const lock = path.join(root, 'package-lock.json');
  if (fs.existsSync(installed) && fs.statSync(installed).mtimeMs >= fs.statSync(lock).mtimeMs) return;
  say('installing npm dependencies (npm ci)');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) fail('npm ci failed');
}

// Scripts that run storectl, the Go helper that asks the real goleveldb/Pebble engines, and the
// bbolt CLI: the worker (start), the tests and the benchmarks.
const NEEDS_STORECTL = ['start', 'test', 'bench', 'record-history', 'stack:cluster', 'test:cluster'];
const NEEDS_BBOLT = ['start', 'test', 'bench', 'record-history', 'stack:cluster', 'test:cluster'];
// Scripts that run the production topology (src/platform/cluster.ts): the Temporal server, its SQL
// schema tool and the Web UI server. `npm test` does not: it never builds them.
const NEEDS_CLUSTER = ['stack:cluster', 'test:cluster', 'bench'];

function findGo() {
  return onPath('go') || (fs.existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
}

/**
 * `go` and its version, or exit 2: `missing` is said when there is no Go at all, `building` names
 * what needs Go 1.<minMinor> (default 1.25) or newer when the installed one is older.
 */
function goFor(missing, building, minMinor = 25) {
  const go = findGo();
  if (!go) fail(missing);
  const goVersion = spawnSync(go, ['env', 'GOVERSION'], { encoding: 'utf8' }).stdout.trim();
  const [, major, minor] = /^go(\d+)\.(\d+)/.exec(goVersion) || [];
  if (!(Number(major) > 1 || Number(minor) >= minMinor)) fail(`${building} needs Go 1.${minMinor} or newer; ${go} is ${goVersion || 'unknown'}`);
  return { go, goVersion };
}

function versionOf(binary) {
  const r = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function ensureTemporalCli() {
  if (process.env.TEMPORAL_CLI) {
    if (!versionOf(process.env.TEMPORAL_CLI)) fail(`TEMPORAL_CLI=${process.env.TEMPORAL_CLI} does not run`);
    return process.env.TEMPORAL_CLI;
  }
  const cached = path.join(toolsBin, 'temporal');
  if (versionOf(cached)) return cached;
  const fromPath = onPath('temporal');
  if (fromPath && versionOf(fromPath)) return fromPath;

  const { go, goVersion } = goFor(
    'the Temporal CLI is missing and Go is not installed to build it: install Go 1.25 or newer (https://go.dev/dl), or set TEMPORAL_CLI to a temporal binary',
    'building the Temporal CLI',
  );
  say(`building the Temporal CLI v${TEMPORAL_VERSION} with ${goVersion} into ${toolsBin} (once; takes a few minutes)`);
  const r = spawnSync(
    go,
    ['install', '-trimpath', '-ldflags', `-s -w -X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_VERSION}`, `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_VERSION}`],
    { stdio: 'inherit', env: { ...process.env, CGO_ENABLED: '0', GOBIN: toolsBin, GOTOOLCHAIN: 'local' } },
  );
  if (r.status !== 0 || !versionOf(cached)) fail('building the Temporal CLI failed (see the go output above)');
  return cached;
}

/**
 * A Go tool in .tools/bin, the logic storectl and bbolt share. `tool.envVar` names a binary to use
 * instead (it must pass `tool.runs`). Otherwise the binary in .tools/bin is reused while
 * `tool.current(binary)` returns `{ ok: true }`; else (`{ ok: false, why, … }`) it is built with
 * `go <tool.goArgs(tmp)>` in `tool.cwd` (installed Go only: GOTOOLCHAIN=local, no cgo, plus
 * `tool.env(tmp)`) at a temporary path beside it, found at `tool.builtAt(tmp)`, checked with
 * `tool.runs`, renamed over the binary (a reader never sees half a binary) and, with `tool.stamp`, a
 * `<binary>.stamp` holding `tool.stamp()` is written. `tool.what` names it in messages; `why` is said
 * before building; `tool.missing(state)` is the exit-2 message when there is no Go;
 * `tool.minGoMinor` the oldest Go 1.x that builds it (default 25).
 */
function ensureGoTool(tool) {
  const fromEnv = process.env[tool.envVar];
  if (fromEnv) {
    if (!tool.runs(fromEnv)) fail(`${tool.envVar}=${fromEnv} does not run`);
    return fromEnv;
  }
  const binary = path.join(toolsBin, tool.name);
  const state = tool.current(binary);
  if (state.ok) return binary;
  const { go, goVersion } = goFor(tool.missing(state), `building ${tool.what}`, tool.minGoMinor);
  say(`building ${tool.what} with ${goVersion} into ${toolsBin} (${state.why})`);
  fs.mkdirSync(toolsBin, { recursive: true });
  const tmp = `${binary}.tmp-${process.pid}`;
  const r = spawnSync(go, tool.goArgs(tmp), {
    cwd: tool.cwd || root,
    stdio: 'inherit',
    env: { ...process.env, CGO_ENABLED: '0', GOTOOLCHAIN: 'local', ...tool.env(tmp) },
  });
  const built = tool.builtAt(tmp);
  if (r.status !== 0 || !tool.runs(built)) {
    fs.rmSync(tmp, { recursive: true, force: true });
    fail(`building ${tool.what} failed (see the go output above)`);
  }
  fs.renameSync(built, binary);
  if (built !== tmp) fs.rmSync(tmp, { recursive: true, force: true });
  if (tool.stamp) fs.writeFileSync(`${binary}.stamp`, `${tool.stamp()}\n`);
  return binary;
}

const storectlSrc = path.join(root, 'tools', 'storectl');

/** sha256 over the names and bytes of go.mod, go.sum and *.go: what the binary is built from. */
function storectlSourceHash() {
  if (!fs.existsSync(path.join(storectlSrc, 'go.mod'))) fail(`${storectlSrc}/go.mod is missing: storectl cannot be built from this checkout`);
  const names = fs.readdirSync(storectlSrc).filter((n) => n === 'go.mod' || n === 'go.sum' || n.endsWith('.go')).sort();
  const h = crypto.createHash('sha256');
  for (const name of names) {
    const bytes = fs.readFileSync(path.join(storectlSrc, name));
    h.update(`${name}\0${bytes.length}\0`).update(bytes);
  }
  return h.digest('hex');
}

const runs = (binary) => spawnSync(binary, ['help'], { encoding: 'utf8' }).status === 0;

/**
 * storectl from tools/storectl: built into .tools/bin when missing or when its sources changed
 * (a stamp beside it holds the hash of the sources it was built from). STORECTL names a binary to
 * use instead. The pinned go.sum is used as is (-mod=readonly), with the installed Go only
 * (GOTOOLCHAIN=local) and no cgo, so the build is the same on every machine.
 */
function ensureStorectl() {
  const stampFile = path.join(toolsBin, 'storectl.stamp');
  const want = process.env.STORECTL ? undefined : storectlSourceHash();
  return ensureGoTool({
    name: 'storectl',
    envVar: 'STORECTL',
    what: 'storectl',
    runs,
    current(binary) {
      const have = fs.existsSync(stampFile) ? fs.readFileSync(stampFile, 'utf8').trim() : undefined;
      if (have === want && runs(binary)) return { ok: true };
      return { ok: false, built: Boolean(have), why: have ? 'its sources changed' : 'once; the first build downloads goleveldb and Pebble and takes a minute or two' };
    },
    missing: (state) =>
      `storectl (the goleveldb/Pebble helper in tools/storectl) is ${state.built ? 'out of date' : 'not built'} and Go is not installed to build it: install Go 1.25 or newer (https://go.dev/dl), or set STORECTL to a storectl binary`,
    cwd: storectlSrc,
    goArgs: (tmp) => ['build', '-trimpath', '-o', tmp, '.'],
    env: () => ({ GOFLAGS: '-mod=readonly -buildvcs=false' }),
    builtAt: (tmp) => tmp,
    stamp: () => want,
  });
}

// The real bbolt CLI (etcd-io/bbolt's cmd/bbolt), the referee and surgeon for etcd's bbolt files:
// `bbolt check`, and `bbolt surgery …` on copies. Its flags are those of this tag.
const BBOLT_VERSION = '1.4.3';

/** What `bbolt version` says it is ("bbolt Version: 1.4.3"), or undefined when it does not run. */
function bboltVersion(binary) {
  const r = spawnSync(binary, ['version'], { encoding: 'utf8' });
  const m = r.status === 0 ? /^bbolt Version: (\S+)$/m.exec(r.stdout) : null;
  return m ? m[1] : undefined;
}

/**
 * bbolt v1.4.3 (`go install go.etcd.io/bbolt/cmd/bbolt@v1.4.3`: 3-8 s with Go's caches warm, about a
 * minute with none): built into .tools/bin when missing or when `bbolt version` there is not the
 * pinned one (the CLI prints its version, so no stamp). BBOLT_CLI names another binary.
 */
function ensureBbolt() {
  const binary = ensureGoTool({
    name: 'bbolt',
    envVar: 'BBOLT_CLI',
    what: `the bbolt CLI v${BBOLT_VERSION}`,
    runs: (b) => bboltVersion(b) !== undefined,
    current(b) {
      const have = fs.existsSync(b) ? bboltVersion(b) : undefined;
      if (have === BBOLT_VERSION) return { ok: true };
      return { ok: false, have, why: have ? `${b} is v${have}` : 'once; seconds with Go\'s caches warm, about a minute without' };
    },
    missing: (state) =>
      `the bbolt CLI (go.etcd.io/bbolt/cmd/bbolt v${BBOLT_VERSION}) is ${state.have ? `v${state.have} in .tools/bin, not v${BBOLT_VERSION},` : 'not built'} and Go is not installed to build it: install Go 1.23 or newer (https://go.dev/dl), or set BBOLT_CLI to a bbolt binary`,
    minGoMinor: 23,
    // `go install` of a version needs no module here; GOBIN is a folder of its own, renamed from.
    goArgs: () => ['install', '-trimpath', '-ldflags', '-s -w', `go.etcd.io/bbolt/cmd/bbolt@v${BBOLT_VERSION}`],
    env: (tmp) => ({ GOBIN: tmp }),
    builtAt: (tmp) => path.join(tmp, 'bbolt'),
  });
  const version = bboltVersion(binary);
  if (version !== BBOLT_VERSION) say(`warning: ${binary} is bbolt v${version}, not the pinned v${BBOLT_VERSION}; its surgery flags may differ`);
  return binary;
}

// The Temporal server docker-compose.yml runs (temporalio/server and admin-tools, test/compose.test.ts
// checks they agree), built from the same release for the one-machine topology; and the Web UI
// server the Temporal CLI v1.5.1 embeds, which compose's temporal-ui image runs too (v2.34.0, the
// UI compose pinned before, has a replace directive in its go.mod, which `go install` refuses).
const TEMPORAL_SERVER_VERSION = '1.30.1';
const TEMPORAL_UI_VERSION = '2.42.1';

/** `<name> version <v>`, which urfave/cli prints for --version: the server, the sql tool, the UI server. */
function cliVersion(binary) {
  const m = /\bversion (\S+)\s*$/.exec(versionOf(binary) || '');
  return m ? m[1] : undefined;
}

/** A binary of `pkg@v<version>` in .tools/bin as `name`, rebuilt when `--version` says another version. */
function ensurePinnedGoBinary({ name, envVar, what, pkg, version, built, slow }) {
  return ensureGoTool({
    name,
    envVar,
    what: `${what} v${version}`,
    runs: (b) => cliVersion(b) !== undefined,
    current(b) {
      const have = fs.existsSync(b) ? cliVersion(b) : undefined;
      if (have === version) return { ok: true };
      return { ok: false, have, why: have ? `${b} is v${have}` : `once; ${slow}` };
    },
    missing: (state) => `${what} (${pkg}) is ${state.have ? `v${state.have} in .tools/bin, not v${version},` : 'not built'} and Go is not installed to build it: install Go 1.25 or newer (https://go.dev/dl), or set ${envVar} to a binary of v${version}`,
    goArgs: () => ['install', '-trimpath', '-ldflags', '-s -w', `${pkg}@v${version}`],
    env: (tmp) => ({ GOBIN: tmp }),
    builtAt: (tmp) => path.join(tmp, built),
  });
}

/** The module's folder in Go's cache (downloaded if missing): the server's schema and image entrypoint, the UI's config templates. */
function moduleDir(module, version) {
  const { go } = goFor(`the cluster needs the files of ${module}@v${version} (schema, config templates) and Go is not installed to download them`, `downloading ${module}`);
  const r = spawnSync(go, ['mod', 'download', '-json', `${module}@v${version}`], { encoding: 'utf8', env: { ...process.env, GOTOOLCHAIN: 'local' }, cwd: os.tmpdir() });
  const dir = r.status === 0 ? JSON.parse(r.stdout).Dir : undefined;
  if (!dir || !fs.existsSync(dir)) fail(`go mod download ${module}@v${version} failed: ${(r.stderr || r.stdout || '').trim()}`);
  return dir;
}

/** The server, its SQL schema tool (admin-tools' name) and the UI server, with the files they read. */
function ensureClusterTools() {
  const serverBin = ensurePinnedGoBinary({ name: 'temporal-server', envVar: 'TEMPORAL_SERVER_BIN', what: 'the Temporal server', pkg: 'go.temporal.io/server/cmd/server', version: TEMPORAL_SERVER_VERSION, built: 'server', slow: 'takes several minutes' });
  // Same module and version: the second build reuses most of the first one's compiled packages.
  const sqlTool = ensurePinnedGoBinary({ name: 'temporal-sql-tool', envVar: 'TEMPORAL_SQL_TOOL', what: 'the Temporal SQL schema tool', pkg: 'go.temporal.io/server/cmd/tools/sql', version: TEMPORAL_SERVER_VERSION, built: 'sql', slow: 'about a minute after the server' });
  const uiServer = ensurePinnedGoBinary({ name: 'temporal-ui-server', envVar: 'TEMPORAL_UI_SERVER', what: 'the Temporal Web UI server', pkg: 'github.com/temporalio/ui-server/v2/cmd/server', version: TEMPORAL_UI_VERSION, built: 'server', slow: 'a minute or two' });
  return {
    TEMPORAL_SERVER_BIN: serverBin,
    TEMPORAL_SQL_TOOL: sqlTool,
    TEMPORAL_UI_SERVER: uiServer,
    TEMPORAL_SERVER_SOURCE: process.env.TEMPORAL_SERVER_SOURCE || moduleDir('go.temporal.io/server', TEMPORAL_SERVER_VERSION),
    TEMPORAL_UI_SOURCE: process.env.TEMPORAL_UI_SOURCE || moduleDir('github.com/temporalio/ui-server/v2', TEMPORAL_UI_VERSION),
    POSTGRES_BIN_DIR: postgresBin(),
  };
}

const [command, ...args] = process.argv.slice(2);
// System packages first: the quickest check, and the one a person may have to act on.
ensureSystemPackages(scriptName(process.argv.slice(2)));
ensureDependencies();
const cli = ensureTemporalCli();
say(`temporal CLI: ${cli} (${versionOf(cli)})`);
const script = scriptName(process.argv.slice(2));
const storectl = NEEDS_STORECTL.includes(script) ? ensureStorectl() : undefined;
const bbolt = NEEDS_BBOLT.includes(script) ? ensureBbolt() : undefined;
const cluster = NEEDS_CLUSTER.includes(script) ? Object.fromEntries(Object.entries(ensureClusterTools()).filter(([, v]) => v)) : {};

if (!command) process.exit(0);
const chromium = chromiumPath();
const env = { ...process.env, TEMPORAL_CLI: cli, ...(storectl ? { STORECTL: storectl } : {}), ...(bbolt ? { BBOLT_CLI: bbolt } : {}), ...(chromium ? { CHROMIUM_PATH: chromium } : {}), ...cluster };
const child = spawn(command, args, { cwd: root, stdio: 'inherit', env });
// Ctrl-C reaches the whole process group; the child shuts its own children down, we wait for it.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
