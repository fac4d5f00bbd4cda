// Error answers of chat and the API: a known error becomes its status and reason; anything else is
// logged with an id and answered "internal error (logged as <id>)", since its message may carry a
// stack, a Temporal detail or a path of this host. Paths the host configured are also scrubbed from
// every error body, as a second line of defence behind that rule.
import { randomUUID } from 'node:crypto';
import { homedir } from 'node:os';
import { WorkflowNotFoundError } from '@temporalio/client';
import { InvalidRequestError, RefusedError } from '../client';
import { CommandError } from './command';
import { ForbiddenError } from './service';

export interface ErrorAnswer {
  status: number;
  reason: string;
}

/** Fastify's own client errors, by code, in our words (theirs may change between versions). */
const FASTIFY: Record<string, ErrorAnswer> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, reason: 'request body too large (limit 1 MiB)' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, reason: 'unsupported content type: the API takes application/json, Slack application/x-www-form-urlencoded' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, reason: 'empty body with content-type application/json' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, reason: 'body is not valid JSON' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, reason: 'body size does not match Content-Length' },
  FST_ERR_BAD_URL: { status: 400, reason: 'malformed URL' },
};

/** The status and reason of an error we know; undefined for anything else (an internal error). */
export function classify(err: unknown): ErrorAnswer | undefined {
  if (err instanceof ForbiddenError) return { status: 403, reason: err.message };
  if (err instanceof InvalidRequestError || err instanceof CommandError) return { status: 400, reason: err.message };
  if (err instanceof RefusedError) return { status: 409, reason: err.message };
  if (err instanceof WorkflowNotFoundError) return { status: 404, reason: `no run ${err.workflowId}` };
  const { code, statusCode } = (err ?? {}) as { code?: string; statusCode?: number };
  if (code && Object.hasOwn(FASTIFY, code)) return FASTIFY[code];
  // A JSON syntax error from the body parser carries a 400 and the parser's text: not ours to echo.
  if (err instanceof SyntaxError && statusCode === 400) return FASTIFY.FST_ERR_CTP_INVALID_JSON_BODY;
  if (statusCode && statusCode >= 400 && statusCode < 500) return { status: statusCode, reason: `bad request (${code ?? statusCode})` };
  return undefined;
}

/** An id to find the logged error by; short enough to read out in chat. */
export const errorId = () => randomUUID().slice(0, 8);

export const internalReason = (id: string) => `internal error (logged as ${id})`;

/** Replaces every configured host path (longest first) in `text` with `<host path>`. */
export function scrubber(paths: (string | undefined)[]): (text: string) => string {
  const known = [...new Set([...paths, process.cwd(), homedir()].filter((p): p is string => Boolean(p && p.length > 1 && p.startsWith('/'))))]
    .sort((a, b) => b.length - a.length);
  return (text) => known.reduce((out, path) => out.split(path).join('<host path>'), text);
}
