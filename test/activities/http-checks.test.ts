// HTTP checks against a local server: RE2 body patterns, the 1 MiB body cap, no redirects.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { MAX_BODY_BYTES, probe } from '../../src/activities/http-checks';
import { httpCheck } from '../../src/workflows/inputs';
import { failure } from './adapter-helpers';

describe('HTTP checks (a local server; probe needs no activity context)', () => {
  let server: Server;
  let base: string;
  const requests: string[] = [];
  const huge = MAX_BODY_BYTES + 1;

  before(async () => {
    server = createServer((req, res) => {
      requests.push(req.url!);
      if (req.url === '/aaa') res.end(`${'a'.repeat(30)}!`);
      else if (req.url === '/exact') res.end(`${'x'.repeat(MAX_BODY_BYTES - 3)}END`);
      else if (req.url === '/declared-huge') res.writeHead(200, { 'content-length': String(huge) }).end('x'.repeat(huge));
      else if (req.url === '/endless') {
        // Chunked, no length, never ends: only the reader's cap stops it.
        const chunk = Buffer.alloc(64 * 1024, 'y');
        const pump = () => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once('drain', pump);
        };
        pump();
      } else if (req.url === '/redirect') res.writeHead(302, { location: '/target' }).end();
      else res.end('ok\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const check = (path: string, extra: { bodyMatch?: string; expectStatus?: number } = {}) => httpCheck.parse({ url: `${base}${path}`, retries: 0, ...extra });

  test('a catastrophic pattern, ^(a+)+$ on 30 "a"s and a "!", completes (RE2: linear time) and does not match', async () => {
    assert.deepEqual(await probe(check('/aaa', { bodyMatch: '^(a+)+$' })), { ok: false, status: 200, problem: 'body does not match /^(a+)+$/' });
    assert.deepEqual(await probe(check('/aaa', { bodyMatch: '^a+!$' })), { ok: true, status: 200 });
  });

  test('a pattern RE2 cannot compile is InvalidInput naming it, and nothing is fetched', async () => {
    const before = requests.length;
    for (const bodyMatch of ['(a', '(a)\\1', '(?=a)']) {
      await assert.rejects(probe(check('/aaa', { bodyMatch })), failure('InvalidInput', JSON.stringify(bodyMatch), 'not a valid RE2 pattern'));
    }
    assert.equal(requests.length, before);
  });

  test('a body of exactly 1 MiB is matched whole, to its end', async () => {
    assert.deepEqual(await probe(check('/exact', { bodyMatch: 'END$' })), { ok: true, status: 200 });
  });

  test('a body over 1 MiB fails the check, declared or endless (reading stops at the cap)', async () => {
    assert.deepEqual(await probe(check('/declared-huge', { bodyMatch: 'x' })), { ok: false, status: 200, problem: 'body larger than 1 MiB' });
    assert.deepEqual(await probe(check('/endless', { bodyMatch: 'y' })), { ok: false, status: 200, problem: 'body larger than 1 MiB' });
  });

  test('a check without bodyMatch looks at the status only and reads no body', async () => {
    assert.deepEqual(await probe(check('/endless')), { ok: true, status: 200 });
  });

  test('redirects are answers, not followed', async () => {
    const before = requests.length;
    assert.deepEqual(await probe(check('/redirect')), { ok: false, status: 302, problem: 'status 302, expected 200' });
    assert.deepEqual(await probe(check('/redirect', { expectStatus: 302 })), { ok: true, status: 302 });
    assert.deepEqual(requests.slice(before), ['/redirect', '/redirect']);
  });
});

