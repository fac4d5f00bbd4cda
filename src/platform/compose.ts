// docker-compose.yml read as the definition of the production topology, so the one-machine cluster
// runs what compose runs: each service's environment (anchors merged) and its shell command, with
// compose's interpolation applied as `docker compose` would with no variables set (each
// `${VAR:-default}` gives its default, `$$` gives `$`).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const COMPOSE_FILE = fileURLToPath(new URL('../../docker-compose.yml', import.meta.url));

interface ComposeService {
  image?: string;
  environment?: Record<string, string | number | boolean | null> | string[];
  command?: string | string[];
}

/** Compose's variable interpolation against an empty environment. */
export function interpolate(text: string): string {
  return text.replace(/\$\$|\$\{(\w+)(?::?-([^}]*))?\}|\$(\w+)/g, (match, _braced, fallback) => (match === '$$' ? '$' : (fallback ?? '')));
}

export function composeService(name: string, file = COMPOSE_FILE): ComposeService {
  const compose = parse(readFileSync(file, 'utf8'), { merge: true }) as { services?: Record<string, ComposeService> };
  const service = compose.services?.[name];
  if (!service) throw new Error(`${file} has no service ${name}`);
  return service;
}

/** The environment compose gives a service's containers. */
export function composeEnvironment(name: string, file = COMPOSE_FILE): Record<string, string> {
  const env = composeService(name, file).environment ?? {};
  const pairs = Array.isArray(env) ? env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]) : Object.entries(env).map(([k, v]) => [k, v == null ? '' : String(v)]);
  return Object.fromEntries(pairs.map(([k, v]) => [k!, interpolate(v!)]));
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
