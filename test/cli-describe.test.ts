// `runbook describe`, the time and filter arguments of `list` and `audit`, and audit's retention
// warning, as a user runs them: bin/runbook.js as a child process against the test run's real
// Temporal server. Bad arguments exit 2 naming the option.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { Config } from '../src/config';
import { parseWhen } from '../src/runs';
import { runbooks } from '../src/workflows/inputs';
import { runCli, shown } from './helpers/cli';
import { testConfig } from './helpers/temporal';

let config: Config;
before(() => {
  config = testConfig('cli-describe');
});

const runbook = (args: string[]) => runCli(config, args);

describe('describe', () => {
  for (const name of Object.keys(runbooks) as Array<keyof typeof runbooks>) {
    test(`describe ${name} --json: the JSON Schema of the workflow's own zod schema, and an example both accept`, async () => {
      const r = await runbook(['describe', name, '--json']);
      assert.equal(r.exitCode, 0, shown(r));
      const d = JSON.parse(r.stdout) as { runbook: string; description: string; workflowId: string; inputSchema: object; example: unknown };
      assert.equal(d.runbook, name);
      assert.equal(d.description, runbooks[name].description);
      assert.match(d.workflowId, new RegExp(`^${name}:<host>/`));
      const ajv = new Ajv2020({ allErrors: true });
      addFormats(ajv);
      const validate = ajv.compile(d.inputSchema);
      assert.ok(validate(d.example), `the example validates against the JSON Schema: ${JSON.stringify(validate.errors)}`);
      const parsed = runbooks[name].input.safeParse(d.example);
      assert.ok(parsed.success, `the example passes the workflow's zod schema: ${parsed.error?.message}`);
      assert.equal(validate({ ...(d.example as object), mode: 'yolo' }), false, 'the schema rejects what zod rejects');

      const example = await runbook(['describe', name, '--example']);
      assert.deepEqual(JSON.parse(example.stdout), d.example, '--example prints the same example, ready for --input');
    });
  }

  test('describe without a name lists the runbooks; an unknown runbook exits 2', async () => {
    const all = await runbook(['describe']);
    assert.equal(all.exitCode, 0, shown(all));
    for (const name of Object.keys(runbooks)) assert.match(all.stdout, new RegExp(`^${name}$`, 'm'));
    const text = await runbook(['describe', 'serviceRestart']);
    assert.match(text.stdout, /^input \(JSON Schema\):$/m);
    const bad = await runbook(['describe', 'diskDefrag']);
    assert.equal(bad.exitCode, 2, shown(bad));
    assert.match(bad.stderr, /unknown runbook "diskDefrag"; known: serviceRestart, lanceRestore/);
  });
});

describe('bad time and filter arguments exit 2 naming the option', () => {
  const cases: Array<[string[], RegExp]> = [
    [['audit', '--since', 'yesterday'], /option '--since <when>' argument 'yesterday' is invalid\. "yesterday" is not a time/],
    [['list', '--since', '3x'], /option '--since <when>' argument '3x' is invalid/],
    [['list', '--until', '2025-13-01'], /option '--until <when>' argument '2025-13-01' is invalid/],
    [['audit', '--since', '2025-02-30'], /option '--since <when>' argument '2025-02-30' is invalid/],
    [['audit'], /required option '--since <when>' not specified/],
    [['audit', '--since', '1h', '--format', 'csv'], /option '--format <format>' argument 'csv' is invalid\. Allowed choices are jsonl, markdown/],
    [['list', '--since', '1h', '--until', '2h'], /--since \(.*\) is after --until/],
    [['list', '--status', 'Sucess'], /option '--status <status>' argument 'Sucess' is invalid/],
    [['list', '--limit', '0'], /option '--limit <n>' argument '0' is invalid/],
    [['list', '--runbook', 'diskDefrag'], /--runbook: unknown runbook "diskDefrag"/],
    [['list', '--target', 'a"b'], /target must not contain quotes/],
  ];
  for (const [args, message] of cases) {
    test(`runbook ${args.join(' ')}`, async () => {
      const r = await runbook(args);
      assert.equal(r.exitCode, 2, shown(r));
      assert.match(r.stderr, message, shown(r));
      assert.equal(r.stdout, '');
    });
  }

  test('time arguments: ISO dates and durations ago', () => {
    const now = new Date('2025-06-15T12:00:00Z');
    assert.equal(parseWhen('24h', now)?.toISOString(), '2025-06-14T12:00:00.000Z');
    assert.equal(parseWhen('7d', now)?.toISOString(), '2025-06-08T12:00:00.000Z');
    assert.equal(parseWhen('90m', now)?.toISOString(), '2025-06-15T10:30:00.000Z');
    assert.equal(parseWhen('2w ago', now)?.toISOString(), '2025-06-01T12:00:00.000Z');
    assert.equal(parseWhen('now', now), now);
    assert.equal(parseWhen('2025-01-31')?.toISOString(), '2025-01-31T00:00:00.000Z');
    assert.equal(parseWhen('2025-01-31T08:30:00Z')?.toISOString(), '2025-01-31T08:30:00.000Z');
    assert.equal(parseWhen('2025-01-31T08:30:00+02:00')?.toISOString(), '2025-01-31T06:30:00.000Z');
    for (const bad of ['', 'yesterday', '24', 'h', '-1h', '2025-02-30', '2025-1-5', '2025-01-31T25:00Z', '1h2m']) assert.equal(parseWhen(bad, now), undefined, bad);
  });
});

describe('retention', () => {
  test('audit further back than the namespace keeps runs: a warning naming the retention', async () => {
    const r = await runbook(['audit', '--since', '30d', '--target', 'nowhere/nothing']);
    assert.equal(r.exitCode, 0, shown(r));
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^runbook: namespace default keeps closed runs for 24h00m: runs closed before .* are gone and not listed$/m, shown(r));
  });
});
