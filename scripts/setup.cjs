#!/usr/bin/env node
// Set-up shared by `npm start` and `npm test` on a fresh clone: npm dependencies, then the Temporal
// CLI (PATH or TEMPORAL_CLI, else built once with Go into .tools/bin), then runs the given command
// with TEMPORAL_CLI pointing at it. Plain Node and no dependencies: it runs before they exist.
'use strict';
const { spawnSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const TEMPORAL_VERSION = '1.5.1'; // newer tags cannot be built with `go install` (replace directive)
const toolsBin = path.join(root, '.tools', 'bin');
const say = (msg) => process.stderr.write(`setup: ${msg}\n`);

function fail(msg) {
  say(msg);
  process.exit(2);
}

function ensureDependencies() {
  const installed = path.join(root, 'node_modules', '.package-lock.json');
  const lock = path.join(root, 'package-lock.json');
  if (fs.existsSync(installed) && fs.statSync(installed).mtimeMs >= fs.statSync(lock).mtimeMs) return;
  say('installing npm dependencies (npm ci)');
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) fail('npm ci failed');
}

function onPath(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (dir && fs.existsSync(candidate)) return candidate;
  }
  return undefined;
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

  const go = onPath('go') || (fs.existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
  if (!go) fail('the Temporal CLI is missing and Go is not installed to build it: install Go 1.25 or newer (https://go.dev/dl), or set TEMPORAL_CLI to a temporal binary');
  const goVersion = spawnSync(go, ['env', 'GOVERSION'], { encoding: 'utf8' }).stdout.trim();
  const [, major, minor] = /^go(\d+)\.(\d+)/.exec(goVersion) || [];
  if (!(Number(major) > 1 || Number(minor) >= 25)) fail(`building the Temporal CLI needs Go 1.25 or newer; ${go} is ${goVersion || 'unknown'}`);
  say(`building the Temporal CLI v${TEMPORAL_VERSION} with ${goVersion} into ${toolsBin} (once; takes a few minutes)`);
  const r = spawnSync(
    go,
    ['install', '-trimpath', '-ldflags', `-s -w -X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_VERSION}`, `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_VERSION}`],
    { stdio: 'inherit', env: { ...process.env, CGO_ENABLED: '0', GOBIN: toolsBin, GOTOOLCHAIN: 'local' } },
  );
  if (r.status !== 0 || !versionOf(cached)) fail('building the Temporal CLI failed (see the go output above)');
  return cached;
}

ensureDependencies();
const cli = ensureTemporalCli();
say(`temporal CLI: ${cli} (${versionOf(cli)})`);

const [command, ...args] = process.argv.slice(2);
if (!command) process.exit(0);
const child = spawn(command, args, { cwd: root, stdio: 'inherit', env: { ...process.env, TEMPORAL_CLI: cli } });
// Ctrl-C reaches the whole process group; the child shuts its own children down, we wait for it.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
