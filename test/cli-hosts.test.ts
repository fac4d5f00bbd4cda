// `runbook start <runbook> --hosts alpha,beta`: the same runbook once per host, from the real CLI,
// against two real worker processes (RUNBOOK_HOST=alpha and beta, each with its own services file
// and its own demo HTTP service under the same name). Each host's run has its own workflow ID, waits
// for its own approval and restarts its own host's service; which worker did it is read from the
// restarted process (its parent, and the environment its host's file gives it). The request is signed
// with --key once per run (the statement names the run's workflow ID), and each host verifies its own.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { execa, type ResultPromise } from 'execa';
import { getProgress, waitForReport } from '../src/client';
import type { Config } from '../src/config';
import { updateHostFile } from '../src/host/host-file';
import { listRuns } from '../src/runs';
import { runCli, shown } from './helpers/cli';
import { restartInput, runningService, servingPid, testServicesFile, waitFor, type TestService } from './helpers/service';
import { neverStarted, testClient, testConfig } from './helpers/temporal';
import { spawnWorker, type WorkerProcess } from './helpers/worker-process';
import { keyRing, type KeyRing, type TestKey } from './trust/keys';

const root = fileURLToPath(new URL('..', import.meta.url));
const hosts = ['alpha', 'beta'] as const;
type Host = (typeof hosts)[number];
const suffix = randomUUID().slice(0, 8);
/** One service name, declared on both hosts, each pointing at its own process. */
const serviceName = `fleet-${suffix}`;
const requester = `alice-${suffix}`;

let config: Config;
let client: Client;
let filesDir: string;
const workers: WorkerProcess[] = [];
const services: TestService[] = [];
const worker = {} as Record<Host, WorkerProcess>;
const service = {} as Record<Host, TestService>;
const firstPid = {} as Record<Host, number>;
let cli: ResultPromise | undefined;
let ring: KeyRing;
let aliceKey: TestKey;

const servicesFileOf = (host: string) => join(filesDir, `${host}.json`);
const idOf = (host: string, name = serviceName) => `serviceRestart:${host}/${name}`;

before(async () => {
  config = testConfig('cli-hosts');
  client = await testClient(config);
  filesDir = await mkdtemp(join(tmpdir(), 'cli-hosts-'));
  const { trust, dataRoots } = JSON.parse(await readFile(testServicesFile(), 'utf8')) as { trust: 'signed' | 'development'; dataRoots: string[] };
  // Both hosts know alice's key, so each can verify the request signed for its own run.
  ring = await keyRing();
  aliceKey = await ring.key('alice');
  const allowedSigners = await ring.allowedSigners([[requester, aliceKey, 'namespaces="runbook-approval"']]);
  const approvals = { allowedSigners, people: { alice: { identities: [requester], runbooks: ['serviceRestart'] } } };
  for (const host of hosts) {
    await updateHostFile(servicesFileOf(host), () => ({ trust, dataRoots, approvals, services: {} }));
    const { service: s, pid } = await runningService(serviceName, services);
    // Declared in its own host's file only (with that host's name in its environment).
    await updateHostFile(servicesFileOf(host), (file) => ({ ...file, services: { ...file.services, [serviceName]: { ...s.declared, env: { RUNBOOK_HOST: host } } } }));
    service[host] = s;
    firstPid[host] = pid;
  }
  const [a, b] = await Promise.all(hosts.map((host) => spawnWorker(config, workers, { env: { RUNBOOK_HOST: host, RUNBOOK_SERVICES_FILE: servicesFileOf(host) } })));
  worker.alpha = a!;
  worker.beta = b!;
});
after(async () => {
  cli?.kill('SIGTERM');
  await cli;
  for (const w of workers) w.process.kill('SIGTERM');
  await Promise.all(workers.map((w) => w.process));
  await client?.connection.close();
  await Promise.all(services.map((s) => s.cleanup()));
  if (filesDir) await rm(filesDir, { recursive: true, force: true });
  await ring?.close();
});

async function inputFile(name: string, content: unknown): Promise<string> {
  const path = join(filesDir, name);
  await writeFile(path, JSON.stringify(content));
  return path;
}

/** The parent pid and RUNBOOK_HOST of a live process, from /proc. */
async function processOrigin(pid: number): Promise<{ ppid: number; runbookHost?: string }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const ppid = Number(/^PPid:\s+(\d+)$/m.exec(status)?.[1]);
  const environ = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
  return { ppid, runbookHost: environ.find((e) => e.startsWith('RUNBOOK_HOST='))?.slice('RUNBOOK_HOST='.length) };
}

/** The restart of `host`'s service was done by `host`'s worker: a new process, its child, with its host's environment. */
async function restartedBy(host: Host): Promise<number> {
  const pid = await servingPid(service[host]);
  assert.ok(pid && pid !== firstPid[host], `${host}: a new process serves its service (old ${firstPid[host]}, now ${pid})`);
  const origin = await processOrigin(pid);
  assert.equal(origin.ppid, worker[host].process.pid, `${host}: the new process was started by ${host}'s worker`);
  assert.equal(origin.runbookHost, host, `${host}: the new process has the environment ${host}'s services file declares`);
  return pid;
}

test('bad --hosts, or --hosts with an input that names a host: exit 2, nothing started', async () => {
  const nobody = `nobody-${suffix}`;
  const plain = await inputFile('bad-plain.json', { mode: 'plan', service: nobody });
  const withHost = await inputFile('bad-with-host.json', { mode: 'plan', service: nobody, host: 'gamma' });
  const badField = await inputFile('bad-field.json', { mode: 'plan', service: nobody, bogus: 1 });
  const cases: Array<[string[], RegExp]> = [
    [['-i', plain, '--hosts', 'alpha,bad/host'], /--hosts: "bad\/host" must be a hostname/],
    [['-i', plain, '--hosts', 'alpha,beta,alpha'], /--hosts: alpha named more than once/],
    [['-i', plain, '--hosts', 'alpha,,beta'], /an empty host name/],
    [['-i', plain, '--hosts', Array.from({ length: 51 }, (_, i) => `h${i}`).join(',')], /51 hosts; at most 50/],
    [['-i', withHost, '--hosts', 'alpha,beta'], /the input sets host "gamma" and --hosts names alpha,beta/],
    [['-i', badField, '--hosts', 'alpha,beta'], /invalid serviceRestart input: bogus: unknown field/],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(config, ['start', 'serviceRestart', ...args, '--as', requester]);
    assert.equal(r.exitCode, 2, shown(r));
    assert.match(r.stderr, message, shown(r));
    assert.equal(r.stdout, '', shown(r));
  }
  for (const host of ['alpha', 'beta', 'gamma']) assert.ok(await neverStarted(client, idOf(host, nobody)), `no run for ${host}`);
});

test('start --hosts alpha,beta --wait: one run per host, each approved on its own, each restarting its own host\'s service', { timeout: 180_000 }, async () => {
  const input = await inputFile('restart.json', restartInput(service.alpha, { approval: 'required' }));
  let out = '';
  let err = '';
  cli = execa(process.execPath, ['bin/runbook.js', 'start', 'serviceRestart', '-i', input, '--hosts', 'alpha,beta', '--as', requester, '--key', aliceKey.file, '--wait'], {
    cwd: root,
    env: { ...process.env, RUNBOOK_TASK_QUEUE: config.taskQueue },
    reject: false,
    timeout: 150_000,
    input: '',
  });
  cli.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  cli.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const seen = () => `--- stdout\n${out}\n--- stderr\n${err}`;
  const lines = () => out.split('\n').filter(Boolean);

  // One line per host, in the order given, each with its own workflow ID.
  await waitFor('a line per host', async () => lines().length >= 2, 30_000).catch((e: Error) => assert.fail(`${e.message}\n${seen()}`));
  assert.deepEqual(lines().slice(0, 2), [`alpha\t${idOf('alpha')}`, `beta\t${idOf('beta')}`], seen());
  assert.match(err, new RegExp(`^\\[alpha\\] http.*${encodeURIComponent(idOf('alpha'))}$`, 'm'), seen());

  // Each run waits for its own approval, and says so with its own approve command.
  for (const host of hosts) {
    await waitFor(`${host} to show it awaits approval`, async () => err.includes(`[${host}] awaiting approval`), 30_000).catch((e: Error) => assert.fail(`${e.message}\n${seen()}`));
    assert.match(err, new RegExp(`^\\[${host}\\]   runbook approve ${idOf(host)} --as <name> --digest [0-9a-f]{64}$`, 'm'), seen());
    const progress = await getProgress(client, idOf(host));
    assert.equal(progress.outcome, 'AwaitingApproval');
    assert.deepEqual({ ...progress.requester, reason: undefined }, { requester, verified: true, person: 'alice', signer: requester, fingerprint: aliceKey.fingerprint, reason: undefined }, `${host} verified the request signed for its own run`);
    assert.equal(await servingPid(service[host]), firstPid[host], `${host}: nothing restarted before approval`);
  }

  // Approving alpha's run alone completes alpha's run; beta's still waits, its service untouched.
  const approveAlpha = await runCli(config, ['approve', idOf('alpha'), '--as', 'bob']);
  assert.equal(approveAlpha.exitCode, 0, shown(approveAlpha));
  await waitFor("alpha's result line", async () => lines().some((l) => l.startsWith('alpha\t') && l !== `alpha\t${idOf('alpha')}`), 60_000).catch((e: Error) => assert.fail(`${e.message}\n${seen()}`));
  const alphaLine = lines().find((l) => l.startsWith('alpha\t') && l !== `alpha\t${idOf('alpha')}`)!;
  assert.match(alphaLine, new RegExp(`^alpha\\tSucceeded\\tserviceRestart on alpha/${serviceName} \\(apply mode\\); approved by bob \\(plan [0-9a-f]{12}…\\); changed yes; took \\S+$`), seen());
  assert.equal(lines().filter((l) => l.startsWith('beta\t')).length, 1, `beta has no result yet\n${seen()}`);
  assert.equal((await getProgress(client, idOf('beta'))).outcome, 'AwaitingApproval');
  assert.equal(await servingPid(service.beta), firstPid.beta, "beta's service was not restarted by alpha's approval");
  const alphaPid = await restartedBy('alpha');

  // While beta's run is open, its ID is taken: a second --hosts start starts alpha's and says why beta's did not.
  const planInput = await inputFile('plan.json', { mode: 'plan', service: serviceName });
  const again = await runCli(config, ['start', 'serviceRestart', '-i', planInput, '--hosts', 'alpha,beta', '--as', requester]);
  assert.equal(again.exitCode, 3, shown(again));
  assert.deepEqual(again.stdout.split('\n').filter(Boolean), [`alpha\t${idOf('alpha')}`, `beta\tnot started: already running: ${idOf('beta')}`], shown(again));
  assert.equal((await waitForReport(client.workflow.getHandle(idOf('alpha')))).report?.outcome, 'Planned');

  // Then beta's approval completes beta's run; the command ends with every run's line, exit 0.
  const approveBeta = await runCli(config, ['approve', idOf('beta'), '--as', 'bob']);
  assert.equal(approveBeta.exitCode, 0, shown(approveBeta));
  const done = await cli;
  cli = undefined;
  assert.equal(done.exitCode, 0, seen());
  assert.match(lines().find((l) => l.startsWith('beta\t') && l !== `beta\t${idOf('beta')}`) ?? '', new RegExp(`^beta\\tSucceeded\\tserviceRestart on beta/${serviceName} \\(apply mode\\); approved by bob`), seen());
  assert.equal(lines().length, 4, seen());
  await restartedBy('beta');
  assert.equal(await servingPid(service.alpha), alphaPid, "alpha's service was not restarted again by beta's run");

  // `runbook list` shows both hosts' runs.
  const listed = await waitFor('both runs closed in list', async () => {
    const r = await runCli(config, ['list', '--triggered-by', requester, '--status', 'Succeeded']);
    return r.exitCode === 0 && hosts.every((host) => r.stdout.includes(idOf(host))) && r;
  });
  assert.match(listed.stdout, new RegExp(`Succeeded .*${idOf('alpha')}`), shown(listed));
  assert.match(listed.stdout, new RegExp(`Succeeded .*${idOf('beta')}`), shown(listed));
  assert.equal((await listRuns(client, { triggeredBy: requester })).length, 3, 'two apply runs and the plan run; nothing from the refused starts');
});
