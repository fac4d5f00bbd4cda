import { diagnoseLance } from '../../src/engines/lance/doctor.ts';
for (let i = 0; i < 4; i++) { const t = performance.now(); const d = await diagnoseLance('/tmp/bt/db/images.lance'); console.log(d.versions.length, Math.round(performance.now() - t)); }
