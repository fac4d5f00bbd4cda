// Runbook: a single-member etcd whose bbolt db is damaged (incident 002: after an unclean shutdown,
// "panic: freepages: failed to get all reachable pages"). Every candidate is built on a copy and
// checked: the other meta page, surgery on the bad elements, the newest good snapshot. The approver
// sees what each loses and may pick another than the least-loss one.
// check → approval → stop etcd → copy member/ aside (checksummed) → build the chosen candidate
// from the copy and check it → swap member/ by rename (the damaged one kept) → start → wait
// healthy → verify revision and key count → report.
import { ApplicationFailure } from '@temporalio/workflow';
import type { EtcdFacts } from '../activities/etcd';
import type { Candidate, Recipe } from '../engines/etcd/candidates';
import type { EtcdRecoverInput } from './inputs';
import type { PlanChoice, RunbookReport } from './report';
import { runRunbook } from './run';
import { checkActions, healthyAction, startAction, stopAction } from './service-plan';
import { refName, type ServiceView } from './service-spec';
import { plural } from './words';

type Action = 'nothing' | 'recover' | 'stop';

const sample = (s: { count: number; first: string[] }) => (s.count ? ` (${s.first.slice(0, 3).map((k) => JSON.stringify(k)).join(', ')}${s.count > 3 ? ', …' : ''})` : '');

function how(recipe: Recipe): string {
  switch (recipe.id) {
    case 'other-meta':
      return `rewrite meta page ${recipe.metaPage} from meta page ${recipe.from} (root ${recipe.fields.root})`;
    case 'surgery':
      return `clear ${recipe.clears.map((c) => `element ${c.index} of branch page ${c.page} (${c.code} → page ${c.child})`).join(', ')}${recipe.rebuildFreelist ? ', then rebuild the freelist' : ''}`;
    case 'snapshot':
      return `restore ${recipe.file} (${recipe.mtime}, sha256 ${recipe.sha256.slice(0, 12)}…) with etcdctl snapshot restore`;
  }
}

/** One candidate in words: how it is made and what it gives and loses against the damaged db. */
function candidateText(c: Candidate, f: EtcdFacts): string {
  if (!c.usable || !c.result) return `${c.recipe ? `${how(c.recipe)}: ` : ''}not usable: ${c.why}`;
  const r = c.result;
  const back = f.damage.revision !== null && r.revision !== null && r.revision < f.damage.revision ? ` (${f.damage.revision - r.revision} revisions back)` : '';
  const lost = c.lost!.count ? `; ${plural(c.lost!.count, 'key')} lost that another source has${sample(c.lost!)}` : '; no key any source has is lost';
  return `${how(c.recipe!)}: revision ${r.revision ?? 'none'}${back}, ${plural(r.liveKeys, 'key')}; ${c.missing!.count} of ${f.damage.liveKeys} readable keys missing${sample(c.missing!)}${c.regained!.count ? `; ${c.regained!.count} keys the damage hid are back${sample(c.regained!)}` : ''}${lost}`;
}

/** Losing keys or revisions is a person's decision, even with approval "auto". */
const loses = (c: Candidate, f: EtcdFacts) => c.lost!.count > 0 || c.missing!.count > 0 || (c.result!.revision ?? 0) < (f.damage.revision ?? 0);

function damageText(f: EtcdFacts): string {
  if (f.damage.unreadable) return `${f.db} is not readable bbolt: ${f.damage.unreadable}`;
  const codes = [...new Set(f.damage.findingList.first.map((x) => x.code))].join(', ');
  return `${f.db}: ${plural(f.damage.findings, 'finding')} (${codes}); ${f.damage.liveKeys} keys readable at revision ${f.damage.revision ?? 'none'}`;
}

function planActions(input: EtcdRecoverInput, f: EtcdFacts, action: Action, q: string, view: ServiceView, chosen?: Candidate): string[] {
  if (action === 'nothing') return [`nothing: ${f.db} checks clean (${f.damage.liveKeys} keys at revision ${f.damage.revision ?? 'none'})`];
  if (action === 'stop') return [`stop, changing nothing: ${damageText(f)}, and no candidate checks clean`, ...f.candidates.map((c) => `${c.id}: ${c.why}`), ...f.snapshotsSkipped.map((s) => `snapshot skipped: ${s}`)];
  return [
    ...(f.openBy.length ? [`etcd holds the db open now (pid ${f.openBy.join(', ')}): the check read a live file; the copy refuses if the db changed since`] : []),
    stopAction(view),
    `wait up to ${input.waitDownSeconds}s until it is down`,
    `copy ${input.dataDir}/member to ${q}/member-copy with a sha256 list, checked against the files; its db must be the ${f.dbBytes} bytes checked now`,
    `build the ${chosen!.id} candidate from the copy in ${q}/work: ${how(chosen!.recipe!)}; it must check clean with revision ${chosen!.result!.revision}, ${chosen!.result!.liveKeys} keys`,
    `swap: move ${input.dataDir}/member to ${q}/damaged-member (kept), and the candidate's member/ in its place`,
    startAction(view),
    healthyAction(view, input.waitHealthySeconds),
    `verify with etcdctl at ${input.clientUrl}: ${chosen!.result!.liveKeys} keys, revision ≥ ${chosen!.result!.revision}`,
    ...checkActions(view),
  ];
}

export async function etcdRecover(input: EtcdRecoverInput): Promise<RunbookReport> {
  return runRunbook<EtcdRecoverInput>('etcdRecover', input, {
    async plan(rb, input) {
      const q = rb.quarantineFor(input.dataDir, input.quarantineDir);
      const f = await rb.step('diagnose', `check ${input.dataDir}/member/snap/db and build the candidates`, (a) => a.diagnoseEtcd({ dataDir: input.dataDir, member: input.member, peerUrl: input.peerUrl, snapshotDir: input.snapshotDir, scratchDir: `${q}/plan-scratch` }), { heartbeatTimeout: '2m', startToCloseTimeout: '6h' });
      const { view } = await rb.step('diagnose-service', `diagnose ${refName(input.service)}`, (a) => a.describeService(input.service, input.checks));
      const action: Action = f.damage.healthy ? 'nothing' : f.leastLoss ? 'recover' : 'stop';
      const best = f.candidates.find((c) => c.id === f.leastLoss);
      const choices: PlanChoice[] = f.candidates.map((c) => ({ id: c.id, usable: c.usable, summary: candidateText(c, f) }));
      return {
        summary: action === 'nothing' ? `${f.db}: healthy` : `${damageText(f)}; ${best ? `least loss: ${best.id}, ${plural(best.lost!.count, 'key')} lost` : 'no candidate checks clean: nothing will be changed'}`,
        actions: planActions(input, f, action, q, view, best),
        observations: { action, ...f, service: view },
        ...(action === 'recover' ? { choices, defaultChoice: best!.id } : {}),
        requiresApproval: best !== undefined && loses(best, f),
      };
    },

    async apply(rb, input, plan) {
      const { action, service, ...f } = plan.observations as EtcdFacts & { action: Action; service: ServiceView };
      if (action === 'nothing') return;
      if (action === 'stop') throw ApplicationFailure.create({ type: 'RepairNotAllowed', nonRetryable: true, message: `${damageText(f)}; no candidate checks clean (${f.candidates.map((c) => `${c.id}: ${c.why}`).join('; ')}); nothing was changed` });
      const chosen = f.candidates.find((c) => c.id === rb.chosen(plan))!;
      const { dataDir } = input;
      const q = rb.quarantineFor(dataDir, input.quarantineDir);
      const [copy, work, aside] = [`${q}/member-copy`, `${q}/work`, `${q}/damaged-member`];
      const etcd = service.handle;

      rb.onFailure('start-service-again', `start ${service.name} again`, (a) => a.startService(etcd));
      await rb.step('stop-service', `stop ${service.name}`, (a) => a.stopService(etcd), { mutates: true });
      await rb.step('wait-service-down', `wait until ${service.name} is down`, (a) => a.waitServiceDown(etcd, input.waitDownSeconds));
      const copied = await rb.step('copy-member', `copy ${dataDir}/member aside, checksummed`, (a) => a.copyEtcdMember({ dataDir, destination: copy, expectDbSha256: f.dbSha256 }), { startToCloseTimeout: '12h', heartbeatTimeout: '2m' });
      rb.notes.push(`copy of member/: ${copied.files} files, ${copied.verifiedBytes} bytes, checked against the data dir, in ${copy}`);
      const built = await rb.step('build-candidate', `build the ${chosen.id} candidate`, (a) => a.buildEtcdCandidate({ dataDir, copy, work, recipe: chosen.recipe!, member: input.member, peerUrl: input.peerUrl, expect: chosen.result! }), { startToCloseTimeout: '12h', heartbeatTimeout: '2m' });
      const swap = { dataDir, recovered: built.member, aside };
      rb.onFailure('unswap', 'put the damaged member/ back', (a) => a.unswapEtcdMember(swap));
      await rb.step('swap', `swap the ${chosen.id} candidate in`, (a) => a.swapEtcdMember({ ...swap, copy }), { mutates: true });
      await rb.step('start-service', `start ${service.name}`, (a) => a.startService(etcd), { mutates: true });
      await rb.step('wait-service-healthy', `wait until ${service.name} is healthy`, (a) => a.waitServiceHealthy(etcd, input.waitHealthySeconds));
      const served = await rb.step('verify', `verify what etcd serves at ${input.clientUrl}`, (a) => a.verifyEtcdServes({ clientUrl: input.clientUrl, expect: { liveKeys: chosen.result!.liveKeys, revision: chosen.result!.revision } }));
      if (Object.keys(service.checks).length) await rb.step('smoke', 'smoke checks', (a) => a.runSmokeChecks(etcd));

      rb.notes.push(`repaired with ${chosen.id}${rb.approval?.choice ? ` (picked by ${rb.approval.approver}; least loss was ${plan.defaultChoice})` : ''}: ${candidateText(chosen, f)}`);
      rb.notes.push(`etcd serves ${served.keys} keys at revision ${served.revision}${served.replayedFromWal ? ` (${served.replayedFromWal} revisions replayed from its WAL)` : ''}; ${f.damage.liveKeys} keys were readable in the damaged db; the damaged member/ is in ${aside}`);
    },
  });
}
