// `runbook`: start, approve, watch, list, show, cancel, describe and audit runbooks from a terminal.
// Exit codes: 0 success, 1 the run failed (or did not succeed), 2 bad input, 3 refused by a guard.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { userInfo } from 'node:os';
import { Command, CommanderError } from 'commander';
import type { Client } from '@temporalio/client';
import { approveRunbook, connectClient, getProgress, startRunbook } from '../client';
import { loadConfig, workflowUrl } from '../config';
import { diagnoseLance, type LanceDiagnosis } from '../engines/lance/doctor';
import { doctorLogStore, type LogStoreDiagnosis } from '../engines/logstore/doctor';
import { httpAnswer, startEtcdDemo, startLanceDemo, startLogStoreDemo } from './demo';
import { servedState } from '../engines/etcd/etcdctl';
import { formatBboltReport, formatLanceDiagnosis, formatLogStoreDiagnosis } from './doctor-format';
import { checkBbolt, type BboltReport } from '../format/bbolt/index';
import { EXIT, ExitError, exitCodeFor } from './exit';
import { follow } from './follow';
import { followHosts, inputsPerHost, MAX_HOSTS, parseHosts, startOnHosts } from './hosts';
import { planText } from './report-text';
import { registerRunCommands } from './runs-commands';
import { registerScheduleCommands } from './schedule';
import { KEY_OPTION_HELP, signingKey, signWith } from './signing';
import type { RequestStatement } from '../trust/statements';

const config = loadConfig();
const defaultUser = () => process.env.RUNBOOK_USER || userInfo().username;

async function readInput(path: string): Promise<unknown> {
  let text: string;
  try {
    text = path === '-' ? await readStdin() : await readFile(path, 'utf8');
  } catch (err) {
    throw new ExitError(`cannot read input ${path}: ${(err as Error).message}`, EXIT.badInput);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ExitError(`input ${path} is not JSON: ${(err as Error).message}`, EXIT.badInput);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function withClient<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const client = await connectClient(config);
  try {
    return await work(client);
  } finally {
    await client.connection.close();
  }
}

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('runbook')
    .description('Durable storage-incident runbooks on Temporal')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('start')
    .description('start a runbook; prints the workflow ID (with --hosts: one line per host, `<host>\t<workflowId>`)')
    .argument('<runbook>', 'runbook name, e.g. serviceRestart')
    .requiredOption('-i, --input <file>', 'input JSON file, or - for stdin')
    .option('-w, --wait', 'follow progress (a progress bar per long step on a terminal) and print a short report')
    .option('--json', 'with --wait: print the whole report as JSON')
    .option('--hosts <list>', `start the same runbook once per host, comma-separated (alpha,beta; at most ${MAX_HOSTS}); the input must not set host. With --wait: one line per host as each run ends`)
    .option('--as <name>', 'who is asking (TriggeredBy)', defaultUser())
    .option('--key <file>', KEY_OPTION_HELP)
    .action(async (runbook: string, opts: { input: string; wait?: boolean; json?: boolean; hosts?: string; as: string; key?: string }) => {
      const hosts = opts.hosts === undefined ? undefined : parseHosts(opts.hosts);
      const input = await readInput(opts.input);
      // Every host's input is checked before any run starts: a bad one starts nothing.
      const perHost = hosts && inputsPerHost(runbook, input, hosts, opts.as);
      const key = signingKey(opts.key, 'request');
      const options = { requestedBy: opts.as, origin: 'cli', ...(key ? { sign: (s: RequestStatement) => signWith(key, s) } : {}) };
      await withClient(async (client) => {
        if (perHost) {
          const starts = await startOnHosts(client, config, runbook, perHost, options);
          setExit(await followHosts(starts, { wait: opts.wait, json: opts.json }));
          return;
        }
        const run = await startRunbook(client, config, runbook, input, options);
        process.stdout.write(`${run.workflowId}\n`);
        process.stderr.write(`${workflowUrl(config, run.workflowId)}\n`);
        if (opts.wait) setExit(await follow(run.handle, { json: opts.json }));
      });
    });

  for (const decision of ['approve', 'reject'] as const) {
    program
      .command(decision)
      .description(`${decision} a run's plan (as someone other than who started it)`)
      .argument('<workflowId>')
      .requiredOption('--as <name>', `who ${decision}s`)
      .option('--digest <sha256>', 'the plan digest you reviewed; default: the current plan, printed first')
      .option('--comment <text>')
      .option('--key <file>', KEY_OPTION_HELP)
      .option('--choice <id>', "approve: which of the plan's choices to apply instead of its default (etcdRecover: other-meta, surgery, snapshot)")
      .action(async (workflowId: string, opts: { as: string; digest?: string; comment?: string; key?: string; choice?: string }) => {
        const key = signingKey(opts.key, decision === 'approve' ? 'approval' : 'rejection');
        await withClient(async (client) => {
          // Without --digest, the CLI shows the plan it is answering for, and binds to that plan and run.
          const { plan, planDigest, runId } = await getProgress(client, workflowId);
          if (!opts.digest) process.stderr.write(planText(plan, `plan ${planDigest}`));
          const digest = opts.digest ?? planDigest ?? '';
          // The signature binds this run, this digest and this decision to the approver's key.
          const choice = opts.choice;
          const signature = key && runId ? await signWith(key, { kind: 'approval', workflowId, runId, digest, decision, approver: opts.as, ...(choice === undefined ? {} : { choice }) }) : undefined;
          const approval = await approveRunbook(client, workflowId, { approver: opts.as, decision, planDigest: digest, runId, comment: opts.comment, signature, ...(choice === undefined ? {} : { choice }) });
          process.stdout.write(`${JSON.stringify(approval)}\n`);
        });
      });
  }

  program
    .command('progress')
    .description("a run's steps, attempts and latest heartbeat")
    .argument('<workflowId>')
    .action(async (workflowId: string) => {
      await withClient(async (client) => process.stdout.write(`${JSON.stringify(await getProgress(client, workflowId), null, 2)}\n`));
    });

  program
    .command('demo')
    .description('rebuild an incident in a sandbox and repair it')
    .argument('<incident>', 'lance: the LanceDB table whose newest version misses 295 data files; leveldb: a goleveldb store with a damaged table block; etcd: a real etcd whose db has the seed\'s page cycle')
    .option('--dir <dir>', 'sandbox folder (default: var/demo/<incident>-<time> in this checkout)')
    .option('--approval <policy>', 'auto, or required (then approve as a second person)', 'auto')
    .option('--policy <policy>', 'leveldb: strict (drop the damaged table) or rebuild (keep its good keys)', 'rebuild')
    .option('--no-wait', 'start the run and return')
    .option('--json', 'print the whole report as JSON instead of a short one')
    .option('--as <name>', 'who is asking (TriggeredBy)', defaultUser())
    .action(async (incident: string, opts: { dir?: string; approval: string; policy: string; wait: boolean; json?: boolean; as: string }) => {
      if (incident !== 'lance' && incident !== 'leveldb' && incident !== 'etcd') throw new ExitError(`unknown demo "${incident}"; known: lance, leveldb, etcd`, EXIT.badInput);
      if (opts.approval !== 'auto' && opts.approval !== 'required') throw new ExitError('--approval must be auto or required', EXIT.badInput);
      if (opts.policy !== 'strict' && opts.policy !== 'rebuild') throw new ExitError('--policy must be strict or rebuild', EXIT.badInput);
      const dir = resolve(opts.dir ?? `var/demo/${incident}-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')}`);
      const servicesFile = process.env.RUNBOOK_SERVICES_FILE || resolve('var/host/services.json');
      if (!existsSync(servicesFile)) throw new ExitError(`no services file at ${servicesFile}: start the stack with npm start (it writes one), or set RUNBOOK_SERVICES_FILE to the worker's`, EXIT.badInput);
      await withClient(async (client) => {
        const say = (line: string) => process.stderr.write(`${line}\n`);
        const common = { dir, servicesFile, approval: opts.approval as 'auto' | 'required', requestedBy: opts.as, say };
        if (incident === 'etcd') {
          const demo = await startEtcdDemo(client, config, common);
          process.stdout.write(`${demo.run.workflowId}\n`);
          if (!opts.wait) return;
          const code = await follow(demo.run.handle, { json: opts.json });
          const served = await servedState(demo.url).then((s) => `${s.keys} keys at revision ${s.revision}`, (err: Error) => `no answer: ${err.message}`);
          say(`etcd after the run (etcdctl get --prefix ""): ${served}`);
          say(`etcd keeps running; stop it with: kill $(node -p 'require("${demo.pidFile}").pid')`);
          setExit(code);
          return;
        }
        const demo = incident === 'lance' ? await startLanceDemo(client, config, common) : await startLogStoreDemo(client, config, { ...common, policy: opts.policy as 'strict' | 'rebuild' });
        const probe = incident === 'lance' ? `${demo.api}/api/images` : `${demo.api}/api/keys`;
        process.stdout.write(`${demo.run.workflowId}\n`);
        if (!opts.wait) return;
        const code = await follow(demo.run.handle, { json: opts.json });
        say(`service after the run: GET ${new URL(probe).pathname} → ${await httpAnswer(probe)}`);
        say(`the service keeps running; stop it with: kill $(node -p 'require("${demo.pidFile}").pid')`);
        setExit(code);
      });
    });

  registerRunCommands(program, { config, withClient, setExit, defaultUser });
  registerScheduleCommands(program, { config, withClient, setExit, defaultUser });

  const doctor = program.command('doctor').description('read-only health checks of a storage engine');
  doctor
    .command('lance')
    .description('check every version of a Lance table: missing files, LFS pointers, where each missing file can come from')
    .argument('<table-dir>')
    .option('--json', 'print the full diagnosis as JSON')
    .option('--lfs-repo <dir>', 'git repository holding the LFS objects (default: git top level of the table)')
    .action(async (tableDir: string, opts: { json?: boolean; lfsRepo?: string }) => {
      let diagnosis: LanceDiagnosis;
      try {
        diagnosis = await diagnoseLance(resolve(tableDir), { lfsRepo: opts.lfsRepo && resolve(opts.lfsRepo) });
      } catch (err) {
        throw new ExitError(`doctor lance ${tableDir}: ${(err as Error).message}`, EXIT.badInput);
      }
      process.stdout.write(opts.json ? `${JSON.stringify(diagnosis, null, 2)}\n` : formatLanceDiagnosis(diagnosis));
      setExit(diagnosis.healthy ? EXIT.ok : EXIT.failed);
    });

  for (const engine of ['leveldb', 'pebble'] as const) {
    doctor
      .command(engine)
      .description(
        engine === 'leveldb'
          ? 'check a LevelDB or goleveldb store: CURRENT, the MANIFEST (torn tail or corruption), WALs, tables and their block checksums'
          : 'check a Pebble v2 store: the manifest marker, the MANIFEST (torn tail or corruption), WALs, tables',
      )
      .argument('<dir>')
      .option('--json', 'print the full diagnosis as JSON')
      .action(async (dir: string, opts: { json?: boolean }) => {
        let diagnosis: LogStoreDiagnosis;
        try {
          diagnosis = await doctorLogStore(engine, resolve(dir));
        } catch (err) {
          throw new ExitError(`doctor ${engine}: ${(err as Error).message}`, EXIT.badInput);
        }
        process.stdout.write(opts.json ? `${JSON.stringify(diagnosis, null, 2)}\n` : formatLogStoreDiagnosis(diagnosis));
        setExit(diagnosis.healthy ? EXIT.ok : EXIT.failed);
      });
  }

  doctor
    .command('bbolt')
    .description("check a bbolt file (etcd's member/snap/db): both meta pages, every bucket's pages (cycles, pages referenced twice, out of bounds, key order), the freelist")
    .argument('<file>')
    .option('--json', 'print the full report as JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      let report: BboltReport;
      try {
        report = await checkBbolt(resolve(file));
      } catch (err) {
        throw new ExitError(`doctor bbolt: ${(err as Error).message}`, EXIT.badInput);
      }
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatBboltReport(report));
      setExit(report.healthy ? EXIT.ok : EXIT.failed);
    });

  return program;
}


export async function main(argv: string[]): Promise<number> {
  let code: number = EXIT.ok;
  try {
    await buildProgram((c) => (code = c)).parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.badInput;
    process.stderr.write(`runbook: ${(err as Error).message}\n`);
    return exitCodeFor(err);
  }
  return code;
}
