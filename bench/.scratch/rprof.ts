import { restoreCase } from '../restore';
const which = process.argv[2] ?? 'seed';
const c = await restoreCase(which, which === 'seed' ? { versions: 'seed' } : { newRows: 3860, missing: 2950 });
const ours = c.variants[0]!;
const only = process.env.ONLY ?? 'ours';
const v = only === 'ours' ? ours : c.variants.find((x) => x.name.endsWith(only === 'sync' ? 'sync' : 'sha256sum'))!;
for (let i = 0; i < Number(process.env.N ?? 5); i++) {
  await v.prepare?.();
  if (process.env.MARK) process.stderr.write('MARK start\n');
  const t = performance.now(); await v.run(); const ms = performance.now() - t;
  await v.reset?.();
  console.log(v.name, ms.toFixed(0));
}
await c.cleanup();
