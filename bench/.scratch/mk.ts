import * as lancedb from '@lancedb/lancedb';
import { imageRows } from '../../src/demo/lance-incident.ts';
const db = await lancedb.connect('/tmp/bt/db');
const table = await db.createTable('images', imageRows(0, 1), { mode: 'overwrite' });
for (let id = 1; id < 1000; id++) await table.add(imageRows(id, 1));
console.log(await table.version());
