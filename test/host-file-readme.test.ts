// The README's services-file example is what an operator copies first: it must load as written.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { parseHostFile } from '../src/host/host-file';

test("the README's services file example is a valid services file", async () => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const section = readme.indexOf("### The host's services file");
  assert.ok(section > 0, 'the README has the services file section');
  const block = /```json\n([\s\S]*?)\n```/.exec(readme.slice(section));
  assert.ok(block, 'the section has a JSON example');
  const file = parseHostFile(JSON.parse(block[1]!), 'README.md');
  assert.deepEqual(Object.keys(file.services).sort(), ['images-api', 'nginx', 'web']);
  assert.equal(file.trust, 'signed');
  assert.ok(file.approvals?.people.alice?.identities.includes('slack:U024ALICE'));
});
