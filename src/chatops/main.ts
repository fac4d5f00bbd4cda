// `tsx src/chatops/main.ts`: the ChatOps service. Reads its files once at start; a missing or invalid
// roles or tokens file stops it at once, naming the file and the field.
import { access, constants } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { connectClient } from '../client';
import { loadConfig } from '../config';
import { logger } from '../logger';
import { ConfigFileError, loadRolesFile, loadTokensFile, type TokensFile } from './access';
import { buildChatOpsServer } from './server';
import { sshSigner } from './signer';

function fail(message: string): never {
  logger.fatal(message);
  process.stderr.write(`chatops: ${message}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  const env = process.env;
  const port = Number(env.CHATOPS_PORT || 3030);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`CHATOPS_PORT must be a port number, not "${env.CHATOPS_PORT}"`);
  const host = env.CHATOPS_HOST || '127.0.0.1';
  const rolesPath = env.CHATOPS_ROLES_FILE;
  if (!rolesPath) fail('CHATOPS_ROLES_FILE is not set: it names the JSON file of users, roles and presets');

  let roles;
  let tokens: TokensFile | undefined;
  try {
    roles = await loadRolesFile(rolesPath);
    if (env.CHATOPS_TOKENS_FILE) tokens = await loadTokensFile(env.CHATOPS_TOKENS_FILE, roles);
  } catch (err) {
    if (err instanceof ConfigFileError) fail(err.message);
    throw err;
  }
  const signingSecret = env.SLACK_SIGNING_SECRET || undefined;
  const webhookUrl = env.CHATOPS_WEBHOOK_URL || undefined;
  if (webhookUrl && !/^https?:\/\//.test(webhookUrl)) fail('CHATOPS_WEBHOOK_URL must be an http(s) URL');
  if (!signingSecret) logger.warn('chatops: SLACK_SIGNING_SECRET is not set: the Slack routes answer 503 "chat not configured"');
  if (!tokens) logger.warn('chatops: CHATOPS_TOKENS_FILE is not set: the JSON API refuses every request (401)');
  // Without a key the service still works, unsigned; server.ts warns about that when it starts.
  const keyFile = env.CHATOPS_SIGNING_KEY || undefined;
  if (keyFile) {
    if (!isAbsolute(keyFile)) fail(`CHATOPS_SIGNING_KEY must be an absolute path to an OpenSSH private key, not "${keyFile}"`);
    await access(keyFile, constants.R_OK).catch((err: Error) => fail(`CHATOPS_SIGNING_KEY ${keyFile}: cannot read it: ${err.message}`));
  }

  const config = loadConfig();
  let client;
  try {
    client = await connectClient(config);
  } catch (err) {
    fail((err as Error).message);
  }
  const hostPaths = [rolesPath, env.CHATOPS_TOKENS_FILE, keyFile, env.RUNBOOK_STATE_DIR, env.RUNBOOK_SERVICES_FILE].filter((p): p is string => Boolean(p));
  const app = buildChatOpsServer({ client, config, chat: { signingSecret, roles, tokens, webhookUrl, hostPaths, ...(keyFile ? { signer: sshSigner(keyFile) } : {}) } });
  try {
    await app.listen({ port, host });
  } catch (err) {
    fail(`cannot listen on ${host}:${port}: ${(err as Error).message}`);
  }
  logger.info(
    { address: `http://${host}:${port}`, users: Object.keys(roles.users).length, tokens: tokens?.tokens.length ?? 0, presets: Object.keys(roles.presets), webhook: Boolean(webhookUrl), signed: Boolean(keyFile) },
    'chatops: listening (POST /slack/commands, /slack/interactions; /api/runs)',
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'chatops: stopping');
    await app.close();
    await client.connection.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

await main();
