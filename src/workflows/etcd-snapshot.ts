// Runbook: a verified etcd snapshot, on a Temporal Schedule (`runbook schedule etcd-snapshot`): the
// prevention incident 002 asks for. A snapshot counts only when our bbolt checker passes it, and
// pruning keeps the newest `keep` that still check clean, never the newest good one.
// list → save into a hidden .part → check → rename into place → prune → report.
import { workflowInfo } from '@temporalio/workflow';
import type { EtcdSnapshotInput } from './inputs';
import type { RunbookReport } from './report';
import { runRunbook } from './run';
import { plural } from './words';

const names = (list: { count: number; first: string[] }) =>
  list.count ? `${list.first.join(', ')}${list.count > list.first.length ? ` and ${list.count - list.first.length} more` : ''}` : 'none';

export async function etcdSnapshot(input: EtcdSnapshotInput): Promise<RunbookReport> {
  return runRunbook<EtcdSnapshotInput>('etcdSnapshot', input, {
    async plan(rb, { clientUrl, member, snapshotDir, keep }) {
      const l = await rb.step('list', `list the snapshots in ${snapshotDir}`, (a) => a.listEtcdSnapshots({ clientUrl, member, snapshotDir, keep }), { heartbeatTimeout: '1m' });
      const etcd = l.etcd.answers ? `it serves ${plural(l.etcd.keys, 'key')} at revision ${l.etcd.revision}` : `it does not answer now: ${l.etcd.error}`;
      return {
        summary: `snapshot etcd ${clientUrl} into ${l.dir} (${plural(l.snapshots.count, 'snapshot')} of ${member} there; ${etcd})`,
        actions: [
          ...(l.exists ? [] : [`create ${snapshotDir} (mode 0700)`]),
          `etcdctl snapshot save from ${clientUrl} into ${l.dir}/.etcd-${member}-<run start>.db.part`,
          `check it (bbolt checker, its sha256 trailer, etcdctl snapshot status): clean, rename it to etcd-${member}-<run start>.db; else keep it as etcd-${member}-<run start>.db.bad with its findings, and fail`,
          `check the newest snapshots again until ${keep} are clean and delete the older etcd-${member}-*.db (now that would be: ${names(l.wouldDelete)}); delete nothing while fewer than ${keep} are clean`,
          `leave the folder's ${l.others} other ${l.others === 1 ? 'entry' : 'entries'} alone`,
        ],
        observations: { dir: l.dir, snapshots: l.snapshots.count, newest: l.snapshots.first[0]?.name ?? null, wouldDelete: l.wouldDelete },
      };
    },

    async apply(rb, { clientUrl, member, snapshotDir, keep }) {
      // The run's start names its snapshot: the same name on every attempt of the step.
      const startedAt = workflowInfo().runStartTime.toISOString();
      const saved = await rb.step('save', `save and check a snapshot of ${clientUrl}`, (a) => a.saveEtcdSnapshot({ clientUrl, member, snapshotDir, startedAt }), { mutates: true, heartbeatTimeout: '2m', startToCloseTimeout: '2h' });
      rb.notes.push(`saved ${saved.file}: ${saved.bytes} bytes, revision ${saved.status.revision}; etcd served ${plural(saved.served.keys, 'key')} at revision ${saved.served.revision} just before; checked clean, sha256 ${saved.sha256}`);
      const pruned = await rb.step('prune', `keep the newest ${keep} snapshots that check clean`, (a) => a.pruneEtcdSnapshots({ snapshotDir, member, keep }), { mutates: true, heartbeatTimeout: '2m', startToCloseTimeout: '6h' });
      rb.notes.push(`kept ${pruned.kept.count} (checked clean): ${names({ count: pruned.kept.count, first: pruned.kept.first.map((s) => s.name) })}`);
      rb.notes.push(`deleted ${pruned.deleted.count}${pruned.deleted.count ? `: ${pruned.deleted.first.map((s) => `${s.name} (${s.bytes} bytes, sha256 ${s.sha256})`).join(', ')}${pruned.deleted.count > pruned.deleted.first.length ? ', …' : ''}` : ''}`);
      if (pruned.movedBad.count) rb.notes.push(`failing their check, kept as *.db.bad: ${pruned.movedBad.first.map((b) => `${b.name} (${b.problems[0]})`).join(', ')}`);
    },
  });
}
