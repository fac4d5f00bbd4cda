// docker-compose.mtls.yml, live: the production topology with compose's mutual-TLS override layered
// on (the real Temporal server's frontend and internode TLS from its template, the namespace set up
// by compose's script through the temporal CLI with its client certificate, the Web UI server with
// its own), certificates made by openssl as the file's header describes them. Only a client whose
// certificate the CA signed reaches the frontend; our worker and the runbook CLI, given compose's
// TEMPORAL_TLS_* variables, run a serviceRestart on alpha end to end.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { test } from 'node:test';
import { Connection, type TLSConfig } from '@temporalio/client';
import type { RunSummary } from '../../src/runs';
import { runCli, shown } from '../helpers/cli';
import { useCluster } from '../helpers/cluster';
import { get, waitFor } from '../helpers/service';
import { processEnv } from '../helpers/worker-process';

const bed = useCluster({ mtls: true, ui: true });
const pem = (name: string) => readFile(join(bed.tlsDir!, name));

/** getSystemInfo over a fresh connection with `tls`: resolves when served, rejects with the reason otherwise. */
async function ask(tls: TLSConfig | undefined): Promise<void> {
  const connection = await Connection.connect({ address: bed.cluster.address, connectTimeout: 5000, tls });
  try {
    await connection.workflowService.getSystemInfo({});
  } finally {
    await connection.close();
  }
}

/**
 * One TLS handshake with the frontend, then HTTP/2's preface: 'served' when the server answers with
 * its settings, else the TLS error's code (with TLS 1.3 a refused client certificate arrives as an alert after the handshake).
 */
async function handshake(client?: { cert: Buffer; key: Buffer }): Promise<string> {
  const [host, port] = bed.cluster.address.split(':');
  const ca = await pem('ca.pem');
  return new Promise((resolve) => {
    const socket = tlsConnect({ host, port: Number(port), ca, servername: 'temporal', ALPNProtocols: ['h2'], ...client });
    const done = (outcome: string) => (socket.destroy(), resolve(outcome));
    socket.setTimeout(10_000, () => done('timeout'));
    socket.once('secureConnect', () => socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
    socket.once('data', () => done('served'));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    socket.once('end', () => done('closed'));
  });
}

test('the frontend serves only clients with a certificate its CA signed: TLS without a certificate and a stranger CA\'s are refused in the handshake, plain gRPC gets nothing', { timeout: 60_000 }, async () => {
  const ca = await pem('ca.pem');
  const client = { cert: await pem('client.pem'), key: await pem('client.key') };
  assert.equal(await handshake(client), 'served', "compose's client certificate");
  assert.equal(await handshake(), 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'no client certificate');
  assert.match(await handshake({ cert: await pem('stranger.pem'), key: await pem('stranger.key') }), /^ERR_SSL_.*ALERT_(BAD_CERTIFICATE|UNKNOWN_CA)$/, 'a certificate from another CA');
  // The SDK, as the worker and CLI use it: served with the certificate, nothing over plain gRPC.
  await ask({ serverRootCACertificate: ca, serverNameOverride: 'temporal', clientCertPair: { crt: client.cert, key: client.key } });
  await assert.rejects(ask(undefined), /Failed to connect/, 'plain gRPC');
  // Served again: the refusal was the missing TLS, not a server gone down.
  await ask({ serverRootCACertificate: ca, serverNameOverride: 'temporal', clientCertPair: { crt: client.cert, key: client.key } });
});

test('the server runs with compose\'s mTLS variables, each path in the folder compose mounts', async () => {
  const env = await processEnv(bed.cluster.server.pid!);
  assert.equal(env.TEMPORAL_TLS_REQUIRE_CLIENT_AUTH, 'true');
  for (const [name, file] of [['TEMPORAL_TLS_SERVER_CA_CERT', 'ca.pem'], ['TEMPORAL_TLS_SERVER_CERT', 'server.pem'], ['TEMPORAL_TLS_FRONTEND_KEY', 'server.key'], ['TEMPORAL_TLS_CLIENT1_CA_CERT', 'ca.pem']] as const) {
    assert.equal(env[name], join(bed.tlsDir!, file), name);
  }
  assert.deepEqual(bed.cluster.clientTls, { TEMPORAL_TLS_CA: join(bed.tlsDir!, 'ca.pem'), TEMPORAL_TLS_CERT: join(bed.tlsDir!, 'client.pem'), TEMPORAL_TLS_KEY: join(bed.tlsDir!, 'client.key'), TEMPORAL_TLS_SERVER_NAME: 'temporal' });
});

test('the Web UI server reaches the frontend with its own client certificate: its API lists the namespace', { timeout: 60_000 }, async () => {
  const answer = await waitFor('the UI API to list namespaces', async () => {
    const r = await fetch(`${bed.cluster.uiUrl}/api/v1/namespaces`, { signal: AbortSignal.timeout(10_000) });
    return r.ok && ((await r.json()) as { namespaces?: Array<{ namespaceInfo?: { name?: string } }> });
  }, 30_000);
  assert.ok(answer.namespaces?.some((n) => n.namespaceInfo?.name === bed.cluster.namespace), JSON.stringify(answer).slice(0, 500));
});

test('the runbook CLI and alpha\'s worker with compose\'s TEMPORAL_TLS_*: serviceRestart on alpha succeeds and the service answers 200 from the process it started; without the certificate the CLI cannot list', { timeout: 180_000 }, async () => {
  const env: Record<string, string> = { ...bed.cluster.clientTls, TEMPORAL_ADDRESS: bed.cluster.address, TEMPORAL_NAMESPACE: bed.cluster.namespace };
  const started = await runCli(bed.config, ['start', 'serviceRestart', '-i', '-', '--hosts', 'alpha', '--as', 'alice', '--wait'], { env, input: JSON.stringify({ mode: 'apply', approval: 'auto', service: 'demo-api' }) });
  assert.equal(started.exitCode, 0, shown(started));
  assert.match(started.stdout, /^alpha\tSucceeded\tserviceRestart on alpha\/demo-api \(apply mode\)/m, shown(started));
  const pid = (JSON.parse(await readFile(join(bed.hosts.alpha.demoDir, 'demo-api.pid'), 'utf8')) as { pid: number }).pid;
  const answer = await get(`http://127.0.0.1:${bed.hosts.alpha.demoPort}/`);
  assert.ok('status' in answer && answer.status === 200, JSON.stringify(answer));
  assert.equal((JSON.parse(answer.body) as { pid: number }).pid, pid, 'served by the process the run started');

  const listed = await runCli(bed.config, ['list', '--triggered-by', 'alice', '--json'], { env });
  assert.equal(listed.exitCode, 0, shown(listed));
  assert.deepEqual((JSON.parse(listed.stdout) as RunSummary[]).map((r) => [r.workflowId, r.outcome]), [['serviceRestart:alpha/demo-api', 'Succeeded']]);

  const { TEMPORAL_TLS_CERT: _cert, TEMPORAL_TLS_KEY: _key, ...noCertificate } = env;
  const refused = await runCli(bed.config, ['list', '--json'], { env: noCertificate });
  assert.equal(refused.exitCode, 1, shown(refused));
  assert.match(refused.stderr, /cannot reach Temporal at /, shown(refused));
});
