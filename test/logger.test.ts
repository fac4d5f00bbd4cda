// The process logger as `npm start` shows it: readable lines on a terminal (a real pseudo-terminal
// made by util-linux `script`), one JSON object per line in a pipe, LOG_FORMAT to choose.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { execa } from 'execa';

const root = fileURLToPath(new URL('..', import.meta.url));
const program = `import('./src/logger.ts').then(({ logger }) => logger.warn({ step: 'restore files', done: 12 }, 'step is slow'))`;
const haveScript = spawnSync('script', ['--version']).status === 0;

describe('logs', () => {
  test('in a pipe: one JSON object per line, as log collectors read it', async () => {
    const r = await execa(process.execPath, ['--import', 'tsx', '-e', program], { cwd: root, env: { LOG_FORMAT: '' }, reject: false });
    assert.equal(r.exitCode, 0, r.stderr);
    const line = JSON.parse(r.stdout);
    assert.deepEqual([line.level, line.name, line.msg, line.step, line.done], [40, 'runbooks', 'step is slow', 'restore files', 12]);
  });

  test('on a terminal: pino-pretty lines with level, message and fields, no JSON', { skip: haveScript ? false : 'util-linux `script` is not installed' }, async () => {
    const command = `exec '${process.execPath}' --import tsx -e "${program}"`;
    const r = await execa('script', ['-qefc', command, '/dev/null'], { cwd: root, env: { ...process.env, LOG_FORMAT: '' }, reject: false, input: '' });
    assert.equal(r.exitCode, 0, r.stdout);
    // eslint-disable-next-line no-control-regex
    const screen = r.stdout.replace(/\x1b\[[0-9;]*m/g, '').replace(/\r/g, '');
    assert.match(screen, /^\[\d\d:\d\d:\d\d\.\d{3}\] WARN \(runbooks\): step is slow$/m, screen);
    assert.match(screen, /^ +step: "restore files"$/m, screen);
    assert.match(screen, /^ +done: 12$/m, screen);
    assert.doesNotMatch(screen, /"level"/);
  });

  test('LOG_FORMAT=json on a terminal keeps JSON; an unknown LOG_FORMAT is refused naming it', async () => {
    if (haveScript) {
      const command = `exec '${process.execPath}' --import tsx -e "${program}"`;
      const r = await execa('script', ['-qefc', command, '/dev/null'], { cwd: root, env: { ...process.env, LOG_FORMAT: 'json' }, reject: false, input: '' });
      assert.equal(JSON.parse(r.stdout.trim()).msg, 'step is slow');
    }
    const bad = await execa(process.execPath, ['--import', 'tsx', '-e', program], { cwd: root, env: { LOG_FORMAT: 'xml' }, reject: false });
    assert.notEqual(bad.exitCode, 0);
    assert.match(bad.stderr, /LOG_FORMAT must be "json" or "pretty", got "xml"/);
  });
});
