// Runbook: a LevelDB (goleveldb) or Pebble store after a crash (incidents 003 and 004). A torn last
// record is a crash while appending: cut it. Anything else is corruption: recover by the chosen
// policy, or stop. Each choice is tried first on a scratch copy, so the plan counts what it loses.
// diagnose → approval → stop service → snapshot → cut the torn tail | recover a copy and swap it in
// → verify with the engine itself → start service → smoke checks → report.
import { ApplicationFailure } from '@temporalio/workflow';
import type { LogStoreFacts } from '../activities/logstore';
import type { Outcome } from '../engines/logstore/candidates';
import type { LogStoreRecoverInput } from './inputs';
import type { Runbook } from './kit';
import type { RunbookReport } from './report';
import { runRunbook } from './run';
import { checkActions, healthyAction, startAction, stopAction } from './service-plan';
import { refName, type ServiceView } from './service-spec';
import { plural } from './words';

type Action = 'nothing' | 'truncate' | 'recover' | 'stop';

/** "12,000 keys (0 of 12,000 readable keys lost)": what one choice leaves. */
function leaves(outcome: Outcome | undefined, readable: number | null): string {
  if (!outcome?.opens) return `the engine does not open the result${outcome?.error ? ` (${outcome.error})` : ''}`;
  const lost = readable === null ? '' : `; ${readable - outcome.keys!} of ${readable} readable keys lost`;
  const tables = outcome.tables?.filter((t) => t.action !== 'kept').map((t) => `${t.file} ${t.action}`) ?? [];
  return `${outcome.keys} keys${lost}${tables.length ? `; ${tables.join(', ')}` : ''}`;
}

/** What the runbook will do, and why; the same facts always give the same answer. */
function chooseAction(input: LogStoreRecoverInput, f: LogStoreFacts): { action: Action; why: string } {
  if (f.healthy) return { action: 'nothing', why: 'the store is healthy and the engine opens it' };
  if (f.truncatable && f.predictions.truncate?.opens) return { action: 'truncate', why: 'every problem is a torn tail: a crash while appending' };
  const damage = f.manifest?.corruption ? `${f.manifest.file} is corrupt at offset ${f.manifest.corruption.offset} (${f.manifest.corruption.kind})` : 'the store is damaged beyond a torn tail';
  if (input.engine === 'pebble') return { action: 'stop', why: `${damage}; Pebble has no recovery: restore from a backup, or keep the snapshot for analysis` };
  if (input.policy === 'truncate-only') return { action: 'stop', why: `${damage}; policy truncate-only allows no more than cutting a torn tail` };
  const outcome = f.predictions[input.policy];
  if (!outcome?.opens) return { action: 'stop', why: `${damage}; goleveldb Recover (${input.policy}) does not give a store the engine opens: ${outcome?.error ?? 'not tried'}` };
  return { action: 'recover', why: `${damage}; policy ${input.policy}` };
}

const expected = (outcome: Outcome) => ({ expectKeys: outcome.keys!, expectDigest: outcome.digest! });

function planActions(rb: Runbook, input: LogStoreRecoverInput, f: LogStoreFacts, action: Action, why: string, view?: ServiceView): string[] {
  const q = rb.quarantineFor(input.dir, input.quarantineDir);
  const p = f.predictions;
  const backend = view ? [stopAction(view), `wait up to ${input.waitDownSeconds}s until it is down`] : [];
  // Nothing will stop what holds the store open: say so now rather than at the snapshot.
  if (f.openBy.length && !view && action !== 'nothing') backend.push(`the store is open (pid ${f.openBy.join(', ')} holds its LOCK) and no service is named to stop: the snapshot will refuse until it is closed`);
  const restart = view ? [startAction(view), healthyAction(view, input.waitHealthySeconds), ...checkActions(view)] : [];
  const snapshot = `copy the whole store with a sha256 list to ${q}/snapshot, and check it against the store`;
  const cutAlone = p.truncate ? [`cutting the torn tail${f.truncations.length === 1 ? '' : 's'} alone would leave: ${leaves(p.truncate, p.readableKeys)}`] : [];
  const choices = [...cutAlone, ...(input.engine === 'goleveldb' ? [`strict would leave ${leaves(p.strict, p.readableKeys)}`, `rebuild would leave ${leaves(p.rebuild, p.readableKeys)}`] : [])];
  switch (action) {
    case 'nothing':
      return [`nothing: ${why}; it serves ${p.asIs.keys} keys`];
    case 'truncate':
      return [
        ...backend,
        snapshot,
        ...f.truncations.map((t) => `cut ${t.file} from ${t.fileBytes} to ${t.validBytes} bytes, its last complete record (the ${t.fileBytes - t.validBytes} bytes cut stay in the snapshot)`),
        `verify: ${input.engine} opens the store and serves ${leaves(p.truncate, p.readableKeys)} (digest ${p.truncate!.digest!.slice(0, 16)}…)`,
        ...restart,
      ];
    case 'recover':
      return [
        ...backend,
        snapshot,
        ...cutAlone,
        `recover a copy of the snapshot in ${q}/work with goleveldb Recover${input.policy === 'strict' ? ' and StrictRecovery: corrupted tables are dropped' : ': corrupted tables are rebuilt from their good keys'}`,
        `verify the copy: ${input.engine} opens it and serves ${leaves(p[input.policy as 'strict' | 'rebuild'], p.readableKeys)}`,
        `swap: move ${input.dir} to ${q}/damaged (kept), and the recovered copy to ${input.dir}`,
        `verify ${input.dir} again`,
        ...restart,
      ];
    case 'stop':
      return [...backend, snapshot, `stop, changing nothing else: ${why}`, ...choices, ...(view ? [`${startAction(view)} again`] : [])];
  }
}

export async function logStoreRecover(input: LogStoreRecoverInput): Promise<RunbookReport> {
  return runRunbook<LogStoreRecoverInput>('logStoreRecover', input, {
    async plan(rb, input) {
      const q = rb.quarantineFor(input.dir, input.quarantineDir);
      const f = await rb.step('diagnose', `diagnose ${input.dir}`, (a) => a.diagnoseLogStore({ dir: input.dir, engine: input.engine, scratchDir: `${q}/plan-scratch` }), { heartbeatTimeout: '2m', startToCloseTimeout: '6h' });
      const backendService = input.service;
      const view = backendService ? (await rb.step('diagnose-service', `diagnose ${refName(backendService)}`, (a) => a.describeService(backendService, input.checks))).view : undefined;
      const { action, why } = chooseAction(input, f);
      const outcome = action === 'truncate' ? f.predictions.truncate : action === 'recover' ? f.predictions[input.policy as 'strict' | 'rebuild'] : undefined;
      const lost = outcome && f.predictions.readableKeys !== null ? f.predictions.readableKeys - outcome.keys! : 0;
      return {
        summary: `${input.dir} (${input.engine}): ${action === 'nothing' ? 'healthy' : `${why}; ${action === 'stop' ? 'no repair under this policy' : `${action}, ${plural(lost, 'key')} lost`}`}`,
        actions: planActions(rb, input, f, action, why, view),
        observations: { action, why, ...f, ...(view ? { service: view } : {}) },
        // Losing keys is a person's decision even when the input says approval "auto".
        requiresApproval: lost > 0,
      };
    },

    async apply(rb, input, plan) {
      const { action, why, service, ...f } = plan.observations as LogStoreFacts & { action: Action; why: string; service?: ServiceView };
      if (action === 'nothing') return;
      const { dir, engine } = input;
      const q = rb.quarantineFor(dir, input.quarantineDir);
      const snapshot = `${q}/snapshot`;
      const backend = service?.handle;

      if (service && backend) {
        rb.onFailure('start-service-again', `start ${service.name} again`, (a) => a.startService(backend));
        await rb.step('stop-service', `stop ${service.name}`, (a) => a.stopService(backend), { mutates: true });
        await rb.step('wait-service-down', `wait until ${service.name} is down`, (a) => a.waitServiceDown(backend, input.waitDownSeconds));
      }
      const copied = await rb.step('snapshot', 'snapshot the store', (a) => a.snapshotLogStore({ dir, destination: snapshot }), { startToCloseTimeout: '12h' });
      rb.notes.push(`snapshot: ${copied.files} files, ${copied.verifiedBytes} bytes, checked against the store, in ${snapshot}`);
      if (action === 'stop') throw ApplicationFailure.create({ type: 'RepairNotAllowed', nonRetryable: true, message: `${why}; nothing was changed; the snapshot is in ${snapshot}` });

      let after: Outcome;
      if (action === 'truncate') {
        const { truncations } = f;
        after = f.predictions.truncate!;
        rb.onFailure('restore-tails', 'give the cut files their bytes back', (a) => a.restoreLogTails({ dir, snapshot, truncations }));
        const cut = await rb.step('truncate', 'cut the torn tails', (a) => a.truncateLogTails({ dir, snapshot, truncations }), { mutates: true });
        await rb.step('verify', `verify ${dir} with ${engine}`, (a) => a.verifyLogStore({ dir, engine, ...expected(after) }), { heartbeatTimeout: '2m' });
        rb.notes.push(`bytes truncated: ${cut.bytesRemoved} (${cut.truncated.map((t) => `${t.file} ${t.fileBytes} → ${t.validBytes}`).join(', ')})`);
      } else {
        const strict = input.policy === 'strict';
        after = f.predictions[strict ? 'strict' : 'rebuild']!;
        const work = await rb.step('recover', `recover a copy with goleveldb Recover (${input.policy})`, (a) => a.recoverLogStoreCopy({ dir, snapshot, work: `${q}/work`, strict }), { startToCloseTimeout: '12h', heartbeatTimeout: '2m' });
        await rb.step('verify-copy', 'verify the recovered copy', (a) => a.verifyLogStore({ dir: work.store, engine, ...expected(after) }), { heartbeatTimeout: '2m' });
        const swap = { dir, recovered: work.store, aside: `${q}/damaged`, snapshot };
        rb.onFailure('unswap', 'put the damaged store back', (a) => a.unswapLogStore(swap));
        await rb.step('swap', 'swap the recovered copy in', (a) => a.swapLogStore(swap), { mutates: true });
        await rb.step('verify', `verify ${dir} with ${engine}`, (a) => a.verifyLogStore({ dir, engine, ...expected(after) }), { heartbeatTimeout: '2m' });
        const changed = work.tables.filter((t) => t.action !== 'kept');
        rb.notes.push(`tables: ${changed.length ? changed.map((t) => `${t.file} ${t.action} (${t.goodKeys} good keys, ${t.corruptedBlocks} corrupted blocks)`).join(', ') : 'none dropped or rebuilt'}; the damaged store is in ${q}/damaged`);
      }
      rb.notes.push(`keys: ${f.predictions.readableKeys ?? 'unknown'} readable before, ${after.keys} served after`);

      if (service && backend) {
        await rb.step('start-service', `start ${service.name}`, (a) => a.startService(backend), { mutates: true });
        await rb.step('wait-service-healthy', `wait until ${service.name} is healthy`, (a) => a.waitServiceHealthy(backend, input.waitHealthySeconds));
        if (Object.keys(service.checks).length) await rb.step('smoke', 'smoke checks', (a) => a.runSmokeChecks(backend));
      }
    },
  });
}
