// TLS to the Temporal frontend from TEMPORAL_TLS_*: off unless a variable is set, the PEM files read
// at connect time, and a missing key or an unreadable file named with its variable.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfig, temporalTlsOptions } from '../src/config';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'config-tls-'));
  for (const name of ['ca.pem', 'client.pem', 'client.key']) await writeFile(join(dir, name), `-----${name}-----\n`);
});
after(() => rm(dir, { recursive: true, force: true }));

test('no TEMPORAL_TLS_* variable: plain gRPC', () => {
  assert.equal(loadConfig({}).tls, undefined);
  assert.equal(temporalTlsOptions(loadConfig({})), undefined);
});

test('a client certificate, its key, the CA and the server name are read into the SDK option', () => {
  const config = loadConfig({ TEMPORAL_TLS_CERT: join(dir, 'client.pem'), TEMPORAL_TLS_KEY: join(dir, 'client.key'), TEMPORAL_TLS_CA: join(dir, 'ca.pem'), TEMPORAL_TLS_SERVER_NAME: 'temporal' });
  const tls = temporalTlsOptions(config);
  assert.equal(tls?.serverNameOverride, 'temporal');
  assert.equal(Buffer.from(tls!.serverRootCACertificate!).toString(), '-----ca.pem-----\n');
  assert.equal(Buffer.from(tls!.clientCertPair!.crt).toString(), '-----client.pem-----\n');
  assert.equal(Buffer.from(tls!.clientCertPair!.key).toString(), '-----client.key-----\n');
});

test('the CA alone turns TLS on, without a client certificate', () => {
  const tls = temporalTlsOptions(loadConfig({ TEMPORAL_TLS_CA: join(dir, 'ca.pem') }));
  assert.ok(tls?.serverRootCACertificate);
  assert.equal(tls.clientCertPair, undefined);
});

test('a certificate without its key, or an unreadable file, is refused naming the variable', () => {
  assert.throws(() => temporalTlsOptions(loadConfig({ TEMPORAL_TLS_CERT: join(dir, 'client.pem') })), /TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together.*only TEMPORAL_TLS_CERT is set/);
  const missing = join(dir, 'nope.key');
  assert.throws(() => temporalTlsOptions(loadConfig({ TEMPORAL_TLS_CERT: join(dir, 'client.pem'), TEMPORAL_TLS_KEY: missing })), new RegExp(`TEMPORAL_TLS_KEY=${missing}: cannot read it: .*ENOENT`));
});
