// docker-compose.yml read as the definition of the production topology, so the one-machine cluster
// runs what compose runs: each service's environment (anchors merged, override files layered as
// `docker compose -f a -f b` layers them) and its shell command, with compose's interpolation
// applied as `docker compose` would with only the given variables set (each `${VAR:-default}` gives
// its default when VAR is unset or empty, `$$` gives `$`).
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const COMPOSE_FILE = fileURLToPath(new URL('../../docker-compose.yml', import.meta.url));
/** The override that turns on mutual TLS for the frontend (and has every client present a certificate). */
export const MTLS_COMPOSE_FILE = fileURLToPath(new URL('../../docker-compose.mtls.yml', import.meta.url));

interface ComposeService {
  image?: string;
  environment?: Record<string, string | number | boolean | null> | string[];
  command?: string | string[];
  volumes?: Array<string | { type?: string; source?: string; target?: string }>;
}

type Variables = Record<string, string | undefined>;

/** Compose's variable interpolation against `vars` (none by default). */
export function interpolate(text: string, vars: Variables = {}): string {
  return text.replace(/\$\$|\$\{(\w+)(?::?-([^}]*))?\}|\$(\w+)/g, (match, braced: string | undefined, fallback: string | undefined, bare: string | undefined) => {
    if (match === '$$') return '$';
    return vars[braced ?? bare ?? ''] || (fallback ?? '');
  });
}

function serviceIn(file: string, name: string): ComposeService | undefined {
  const compose = parse(readFileSync(file, 'utf8'), { merge: true }) as { services?: Record<string, ComposeService> };
  return compose.services?.[name];
}

export function composeService(name: string, file = COMPOSE_FILE): ComposeService {
  const service = serviceIn(file, name);
  if (!service) throw new Error(`${file} has no service ${name}`);
  return service;
}

/** The environment compose gives a service's containers: `files` layered, a later file's keys winning. */
export function composeEnvironment(name: string, files: string | string[] = COMPOSE_FILE, vars: Variables = {}): Record<string, string> {
  const layers = [files].flat().map((file) => serviceIn(file, name));
  if (!layers.some(Boolean)) throw new Error(`${[files].flat().join(', ')}: no service ${name}`);
  const out: Record<string, string> = {};
  for (const env of layers.map((s) => s?.environment ?? {})) {
    const pairs = Array.isArray(env) ? env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]) : Object.entries(env).map(([k, v]) => [k, v == null ? '' : String(v)]);
    for (const [k, v] of pairs) out[k!] = interpolate(v!, vars);
  }
  return out;
}

/** A service's bind mounts in `files` (short syntax): host folder (resolved against its file's folder) and path in the container. */
export function composeBindMounts(name: string, files: string | string[] = COMPOSE_FILE, vars: Variables = {}): Array<{ source: string; target: string }> {
  return [files].flat().flatMap((file) =>
    (serviceIn(file, name)?.volumes ?? []).flatMap((volume) => {
      if (typeof volume !== 'string') return [];
      const [source, target] = interpolate(volume, vars).split(':');
      // A named volume (no path) has no folder here.
      if (!source || !target || !/^[./]/.test(source)) return [];
      return [{ source: isAbsolute(source) ? source : resolve(dirname(file), source), target }];
    }),
  );
}

/** A one-shot service's script: the first `command` item, run by its `sh -c` entrypoint. */
export function composeScript(name: string, file = COMPOSE_FILE): string {
  const command = composeService(name, file).command;
  const script = Array.isArray(command) ? command[0] : command;
  if (!script) throw new Error(`${file}: service ${name} has no command`);
  return interpolate(script);
}

/** The tag of a service's image after interpolation (temporalio/server:1.30.1 → 1.30.1). */
export function composeImageTag(name: string, file = COMPOSE_FILE): string | undefined {
  const image = composeService(name, file).image;
  return image ? interpolate(image).split(':')[1] : undefined;
}
