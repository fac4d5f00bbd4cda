// The production docker-compose.yml, its dynamic config and the worker's Dockerfile, checked as files:
// no Docker engine runs here, so nothing is started. The checks are the ones that break a deployment
// silently: start order, addresses, credentials, pinned images, paths into this repo, and the search
// attributes, which must match what the code sets (src/workflows/names.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { basename, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { loadConfig } from '../src/config.ts';
import { DEFAULT_TASK_QUEUE, searchAttributeKeys } from '../src/workflows/names.ts';

const root = new URL('..', import.meta.url);
const repoPath = (rel: string): string => fileURLToPath(new URL(rel, root));

interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  environment?: Record<string, string> | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  volumes?: (string | { type?: string; source?: string; target?: string })[];
  ports?: (string | number | { target?: number; published?: string | number })[];
  command?: string | string[];
  healthcheck?: { test?: string | string[] };
  restart?: string;
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

/** Compose interpolation against an empty environment, so every `${VAR:-default}` yields its default. */
function interpolate(value: unknown): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\$|\$\{(\w+)(?::?-([^}]*))?\}|\$(\w+)/g, (match, _braced, fallback) => (match === '$$' ? '$' : (fallback ?? '')));
  }
  if (Array.isArray(value)) return value.map(interpolate);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v)]));
  return value;
}

const composeFile = repoPath('docker-compose.yml');
const composeText = readFileSync(composeFile, 'utf8');
const compose = interpolate(parse(composeText, { merge: true })) as Compose;
const services = compose.services;
const mtls = interpolate(parse(readFileSync(repoPath('docker-compose.mtls.yml'), 'utf8'), { merge: true })) as Compose;

function service(name: string): Service {
  const s = services[name];
  assert.ok(s, `service ${name} is missing from docker-compose.yml`);
  return s;
}

function env(name: string, from: Service = service(name)): Record<string, string> {
  const e = from.environment ?? {};
  if (!Array.isArray(e)) return Object.fromEntries(Object.entries(e).map(([k, v]) => [k, String(v)]));
  return Object.fromEntries(e.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

function dependencies(name: string): Record<string, string> {
  const d = service(name).depends_on ?? {};
  if (Array.isArray(d)) return Object.fromEntries(d.map((dep) => [dep, 'service_started']));
  return Object.fromEntries(Object.entries(d).map(([dep, v]) => [dep, v?.condition ?? 'service_started']));
}

function commandText(name: string): string {
  const c = service(name).command ?? '';
  return Array.isArray(c) ? c.join(' ') : c;
}

test('docker-compose.yml and the worker Dockerfile, checked statically (no Docker engine runs here)', async (t) => {
  await t.test('every service of the production path is defined', () => {
    for (const name of ['postgresql', 'temporal-admin-tools', 'temporal', 'temporal-create-namespace', 'temporal-ui', 'worker']) service(name);
  });

  await t.test('images are pinned, and none is the deprecated auto-setup image', () => {
    for (const [name, s] of Object.entries(services)) {
      if (s.image === undefined) {
        assert.ok(s.build, `${name} has neither an image nor a build`);
        continue;
      }
      const [repo, tag] = s.image.split(':');
      assert.ok(tag, `${name}: image ${s.image} has no tag (defaults to latest)`);
      assert.notEqual(tag, 'latest', `${name}: image ${s.image} is not pinned`);
      assert.notEqual(repo, 'temporalio/auto-setup', `${name}: temporalio/auto-setup is deprecated; use server + admin-tools`);
    }
    // One version each: compose's defaults are the releases set-up builds for the one-machine cluster.
    const setupText = readFileSync(repoPath('scripts/setup.cjs'), 'utf8');
    const server = /^const TEMPORAL_SERVER_VERSION = '([^']+)';$/m.exec(setupText)?.[1];
    const ui = /^const TEMPORAL_UI_VERSION = '([^']+)';$/m.exec(setupText)?.[1];
    assert.ok(server && ui, 'scripts/setup.cjs pins TEMPORAL_SERVER_VERSION and TEMPORAL_UI_VERSION');
    assert.equal(server, '1.30.1');
    assert.equal(service('temporal').image, `temporalio/server:${server}`);
    assert.equal(service('temporal-admin-tools').image, `temporalio/admin-tools:${server}`);
    assert.equal(service('temporal-create-namespace').image, `temporalio/admin-tools:${server}`);
    assert.equal(service('temporal-ui').image, `temporalio/ui:${ui}`);
    assert.equal(service('postgresql').image, 'postgres:16');
  });

  await t.test('start order: database, schema, server, namespace and search attributes, then the worker', () => {
    assert.equal(dependencies('temporal-admin-tools').postgresql, 'service_healthy');
    assert.equal(dependencies('temporal')['temporal-admin-tools'], 'service_completed_successfully', 'the server must wait for the schema');
    assert.ok(dependencies('temporal-create-namespace').temporal, 'namespace creation must wait for the server');
    assert.equal(dependencies('worker')['temporal-create-namespace'], 'service_completed_successfully', 'the worker must wait for the namespace');
    assert.ok(dependencies('temporal-ui').temporal, 'the UI must wait for the server');
  });

  await t.test('each depends_on condition can be met by the service it waits for', () => {
    for (const name of Object.keys(services)) {
      for (const [dep, condition] of Object.entries(dependencies(name))) {
        const target = service(dep);
        if (condition === 'service_healthy') assert.ok(target.healthcheck?.test, `${name} waits for ${dep} to be healthy, but ${dep} has no healthcheck`);
        if (condition === 'service_completed_successfully') {
          assert.ok(target.restart === undefined || target.restart.startsWith('on-failure'), `${name} waits for ${dep} to complete, but ${dep} restarts (${target.restart})`);
        }
      }
    }
  });

  await t.test('the worker, the UI and namespace setup reach the frontend at temporal:7233', () => {
    for (const name of ['worker', 'temporal-ui', 'temporal-create-namespace']) assert.equal(env(name).TEMPORAL_ADDRESS, 'temporal:7233', name);
    assert.ok(
      (service('temporal').ports ?? []).some((p) => String(typeof p === 'object' ? p.target : p).split(':').at(-1) === '7233'),
      'the server publishes 7233',
    );
    assert.equal(env('temporal').BIND_ON_IP, '0.0.0.0', 'the server must listen beyond its own loopback');
  });

  await t.test('the frontend and the UI are published on 127.0.0.1 by default, overridable', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const port of s.ports ?? []) {
        const text = typeof port === 'object' ? `${String(port.published)}:${String(port.target)}` : String(port);
        assert.equal(text.split(':').length, 3, `${name}: port ${text} names no host address, so it is published on every interface`);
        assert.equal(text.split(':')[0], '127.0.0.1', `${name}: port ${text} is published beyond this host`);
      }
    }
    assert.deepEqual(service('temporal').ports, ['127.0.0.1:7233:7233']);
    assert.deepEqual(service('temporal-ui').ports, ['127.0.0.1:8080:8080']);
    assert.match(composeText, /"\$\{TEMPORAL_BIND_ADDRESS:-127\.0\.0\.1\}:7233:7233"/);
    assert.match(composeText, /"\$\{TEMPORAL_UI_BIND_ADDRESS:-127\.0\.0\.1\}:8080:8080"/);
  });

  await t.test('docker-compose.mtls.yml makes the frontend require client certificates, and gives every client one', () => {
    /** Where a service's read-only mount of the TLS directory lands, checked to exist. */
    const tlsMount = (name: string): string => {
      const mounts = (mtls.services[name]?.volumes ?? []).map((v) => (typeof v === 'string' ? v : `${v.source}:${v.target}:ro`));
      const mount = mounts.find((v) => v.startsWith('./deploy/tls:'));
      assert.ok(mount, `${name}: no mount of the TLS directory`);
      assert.ok(mount.endsWith(':ro'), `${name}: the TLS directory must be mounted read-only`);
      return mount.split(':')[1]!;
    };
    for (const name of Object.keys(mtls.services)) service(name);
    const server = env('temporal', mtls.services.temporal);
    const serverDir = tlsMount('temporal');
    assert.equal(server.TEMPORAL_TLS_REQUIRE_CLIENT_AUTH, 'true');
    for (const key of ['TEMPORAL_TLS_SERVER_CA_CERT', 'TEMPORAL_TLS_SERVER_CERT', 'TEMPORAL_TLS_SERVER_KEY', 'TEMPORAL_TLS_FRONTEND_CERT', 'TEMPORAL_TLS_FRONTEND_KEY', 'TEMPORAL_TLS_CLIENT1_CA_CERT']) {
      assert.ok(server[key]?.startsWith(`${serverDir}/`), `temporal: ${key}=${server[key]} is not in the mounted ${serverDir}`);
    }
    for (const name of ['worker', 'temporal-ui', 'temporal-create-namespace']) {
      const e = env(name, mtls.services[name]);
      const dir = tlsMount(name);
      // The names our worker reads (src/config.ts) are the ones the temporal CLI and the UI read.
      const tls = loadConfig(e).tls;
      assert.ok(tls?.cert && tls.key && tls.ca, `${name}: no client certificate, key and CA`);
      for (const path of [tls.cert, tls.key, tls.ca]) assert.ok(path.startsWith(`${dir}/`), `${name}: ${path} is not in the mounted ${dir}`);
      assert.equal(tls.serverName, server.TEMPORAL_TLS_FRONTEND_SERVER_NAME, `${name}: verifies the name the frontend's certificate carries`);
    }
    assert.equal(env('temporal-ui', mtls.services['temporal-ui']).TEMPORAL_TLS_ENABLE_HOST_VERIFICATION, 'true');
    assert.equal(mtls.services.temporal?.ports, undefined, 'the override leaves the published ports as they are (127.0.0.1)');
  });

  await t.test('the server and the schema tool use the postgres credentials and host', () => {
    const pg = env('postgresql');
    assert.ok(pg.POSTGRES_USER && pg.POSTGRES_PASSWORD);
    for (const name of ['temporal', 'temporal-admin-tools']) {
      const e = env(name);
      assert.equal(e.DB, 'postgres12', name);
      assert.equal(e.DB_PORT, '5432', name);
      assert.equal(e.POSTGRES_USER, pg.POSTGRES_USER, `${name}: POSTGRES_USER`);
      assert.equal(e.POSTGRES_PWD, pg.POSTGRES_PASSWORD, `${name}: POSTGRES_PWD`);
      assert.equal(e.POSTGRES_SEEDS, 'postgresql', `${name}: POSTGRES_SEEDS must name the postgres service`);
    }
    assert.match(JSON.stringify(service('postgresql').healthcheck?.test), new RegExp(`pg_isready -U ${pg.POSTGRES_USER}\\b`));
  });

  await t.test('postgres keeps its data in a named volume', () => {
    const data = (service('postgresql').volumes ?? []).map((v) => (typeof v === 'string' ? v : `${v.source}:${v.target}`)).find((v) => v.endsWith(':/var/lib/postgresql/data'));
    assert.ok(data, 'no volume on /var/lib/postgresql/data');
    const volumeName = data.split(':')[0]!;
    assert.ok(compose.volumes && volumeName in compose.volumes, `volume ${volumeName} is not declared under top-level volumes`);
  });

  await t.test('the schema tool sets up both databases with the postgres12 schema', () => {
    const script = commandText('temporal-admin-tools');
    assert.match(script, /temporal-sql-tool --plugin postgres12/);
    for (const [db, dir] of [
      ['temporal', 'temporal'],
      ['temporal_visibility', 'visibility'],
    ] as const) {
      assert.match(script, new RegExp(`--db ${db} create\\b`));
      assert.match(script, new RegExp(`--db ${db} setup-schema -v 0\\.0\\b`));
      assert.match(script, new RegExp(`--db ${db} update-schema -d /etc/temporal/schema/postgresql/v12/${dir}/versioned\\b`));
    }
  });

  await t.test('the dynamic config mount points at a file in this repo, in dynamic config format', () => {
    const mount = (service('temporal').volumes ?? []).map((v) => (typeof v === 'string' ? v : `${v.source}:${v.target}`)).find((v) => v.split(':')[1] === '/etc/temporal/config/dynamicconfig');
    assert.ok(mount, 'no mount on /etc/temporal/config/dynamicconfig');
    const hostDir = mount.split(':')[0]!;
    assert.ok(hostDir.startsWith('./'), `${hostDir} should be relative to the compose file`);
    assert.ok(existsSync(repoPath(hostDir)), `${hostDir} does not exist in the repo`);

    const configPath = env('temporal').DYNAMIC_CONFIG_FILE_PATH ?? '';
    assert.equal(posix.dirname(configPath), 'config/dynamicconfig', 'DYNAMIC_CONFIG_FILE_PATH must be inside the mount');
    const file = repoPath(posix.join(hostDir, basename(configPath)));
    assert.ok(existsSync(file), `${file} does not exist`);

    const config = parse(readFileSync(file, 'utf8')) as Record<string, { value: unknown; constraints: object }[]>;
    for (const [key, entries] of Object.entries(config)) {
      assert.ok(Array.isArray(entries) && entries.length > 0, `${key}: must be a list of {value, constraints}`);
      for (const entry of entries) assert.ok('value' in entry && typeof entry.constraints === 'object', `${key}: must be a list of {value, constraints}`);
    }
    assert.equal(config['limit.maxIDLength']?.[0]?.value, 1000);
    assert.equal(config['system.forceSearchAttributesCacheRefreshOnRead']?.[0]?.value, true);
  });

  await t.test('the worker image builds from the Dockerfile and starts src/worker.ts', () => {
    const build = service('worker').build;
    const context = typeof build === 'string' ? build : (build?.context ?? '.');
    const dockerfile = typeof build === 'object' && build.dockerfile ? build.dockerfile : 'Dockerfile';
    const dockerfilePath = repoPath(posix.join(context, dockerfile));
    assert.ok(existsSync(dockerfilePath), `${dockerfilePath} does not exist`);

    const text = readFileSync(dockerfilePath, 'utf8');
    assert.match(text, /^FROM node:20-bookworm-slim\b/m);
    assert.match(text, /^USER node\b/m, 'the worker should not run as root');
    const cmdLine = text.match(/^CMD (\[.*\])\s*$/m);
    assert.ok(cmdLine, 'the Dockerfile needs an exec-form CMD');
    const cmd = JSON.parse(cmdLine[1]!) as string[];
    assert.deepEqual(cmd.slice(0, 3), ['node', '--import', 'tsx']);
    const entry = cmd.find((arg) => arg.endsWith('.ts'));
    assert.equal(entry, 'src/worker.ts');
    assert.ok(existsSync(repoPath(entry)), `${entry} does not exist`);
    assert.match(text, /^COPY src\/? /m, 'the image must contain src/');
    // logStoreRecover asks the real engines through storectl: the image builds it from the repo's pinned sources.
    assert.match(text, /^COPY tools\/storectl\/ /m);
    assert.match(text, /^COPY --from=storectl \/storectl (\S+)$/m);
    assert.match(text, /^ENV STORECTL=\/usr\/local\/bin\/storectl$/m);
    assert.ok(existsSync(repoPath('tools/storectl/go.sum')), 'the helper\'s dependencies are pinned');
    // The etcd runbook's referee and surgeon: the real bbolt CLI, at the tag set-up pins too.
    const pinned = /^const BBOLT_VERSION = '([^']+)';$/m.exec(readFileSync(repoPath('scripts/setup.cjs'), 'utf8'))?.[1];
    assert.ok(pinned, 'scripts/setup.cjs pins the bbolt CLI (BBOLT_VERSION)');
    const install = /^RUN .*\bGOBIN=(\S+) go install .*go\.etcd\.io\/bbolt\/cmd\/bbolt@v(\S+)$/m.exec(text);
    assert.ok(install, 'the Go stage installs go.etcd.io/bbolt/cmd/bbolt at a tag');
    assert.equal(install[2], pinned, 'the image\'s bbolt is the version set-up builds');
    assert.match(text, new RegExp(`^COPY --from=storectl ${install[1]}/bbolt /usr/local/bin/bbolt$`, 'm'));
    assert.match(text, /^ENV BBOLT_CLI=\/usr\/local\/bin\/bbolt$/m);
  });

  await t.test('the worker polls the task queue and namespace the code and setup use', () => {
    const e = env('worker');
    assert.equal(e.RUNBOOK_TASK_QUEUE, DEFAULT_TASK_QUEUE);
    assert.equal(e.TEMPORAL_NAMESPACE, 'default');
    assert.match(commandText('temporal-create-namespace'), new RegExp(`namespace create --namespace ${e.TEMPORAL_NAMESPACE}\\b`));
    assert.ok(e.RUNBOOK_HOST, 'RUNBOOK_HOST must be pinned: a container hostname changes on every recreate');
    assert.match(e.RUNBOOK_METRICS_ADDRESS ?? '', /^0\.0\.0\.0:\d+$/, 'metrics must listen beyond the container loopback');
  });

  await t.test('the search attributes registered are the ones the code sets (src/workflows/names.ts)', () => {
    const script = commandText('temporal-create-namespace');
    const registered = [...script.matchAll(/search-attribute create\b[^\n]*?--name (\S+) --type (\S+)/g)].map((m) => ({ name: m[1]!, type: m[2]! }));
    const norm = (type: string) => type.replace(/_/g, '').toLowerCase();
    assert.deepEqual(registered.map((sa) => sa.name).sort(), searchAttributeKeys.map((key) => key.name).sort());
    assert.deepEqual(registered.map((sa) => sa.name).sort(), ['RunbookName', 'RunbookOutcome', 'RunbookTarget', 'TriggeredBy']);
    for (const key of searchAttributeKeys) {
      assert.equal(norm(registered.find((sa) => sa.name === key.name)!.type), norm(key.type), `${key.name}: type`);
    }
  });
});
