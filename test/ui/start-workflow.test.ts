// The Temporal Web UI as operators use it: the dev server's real UI in headless Chromium, the Start
// Workflow form filled with the README's serviceRestart example, the run seen completing in the UI.
import assert from 'node:assert/strict';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@temporalio/client';
import { chromium, type Browser } from 'playwright-core';
import { waitForReport } from '../../src/client';
import type { Config } from '../../src/config';
import { runbooks } from '../../src/workflows/inputs';
import { resolveTarget } from '../../src/workflows/targets';
import { makeService, servingPid, type TestService } from '../helpers/service';
import { startWorker, testClient, testConfig } from '../helpers/temporal';

let config: Config;
let client: Client;
let worker: { stop(): Promise<void> };
let browser: Browser;
let service: TestService;

before(async () => {
  config = testConfig('ui');
  client = await testClient(config);
  worker = await startWorker(config);
  service = await makeService('ui-demo');
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    // No network here but loopback: background fetches only add noise and refused connections.
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});
after(async () => {
  await browser?.close();
  await worker.stop();
  await client.connection.close();
  await service.cleanup();
});

test('serviceRestart started from the Web UI Start Workflow form runs to completion', async () => {
  const input = {
    mode: 'apply',
    approval: 'auto',
    requestedBy: 'ui-operator',
    host: hostname(),
    service: service.spec.name, // declared in the worker's services file, with its health and smoke checks
  };
  const workflowId = resolveTarget('serviceRestart', { ...runbooks.serviceRestart.input.parse(input), host: hostname() }).workflowId;
  const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
  const shot = join(tmpdir(), 'ui-start-workflow.png');
  try {
    await page.goto(`${config.uiUrl}/namespaces/${config.namespace}/workflows/start-workflow`);
    await page.getByTestId('workflowId').fill(workflowId);
    await page.getByTestId('taskQueue').fill(config.taskQueue);
    await page.getByTestId('workflowType').fill('serviceRestart');
    const editor = page.locator('[contenteditable="true"]').first();
    await editor.click();
    await page.keyboard.insertText(JSON.stringify(input));
    // Leave the JSON editor first: it reformats on blur, which moves the button under a pending click.
    await page.getByTestId('workflowType').click();
    const started = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().includes('/api/v1/namespaces/'));
    await page.getByTestId('start-workflow-button').click();
    assert.equal((await started).status(), 200, 'the UI started the workflow');

    // The run's own page in the UI shows its status once the worker has finished it.
    await page.goto(`${config.uiUrl}/namespaces/${config.namespace}/workflows/${encodeURIComponent(workflowId)}`);
    await page.getByText('Completed', { exact: true }).first().waitFor({ timeout: 60_000 });
  } catch (err) {
    await page.screenshot({ path: shot, fullPage: true });
    throw new Error(`${(err as Error).message} (screenshot: ${shot})`);
  }
  const { report } = await waitForReport(client.workflow.getHandle(workflowId));
  assert.equal(report?.outcome, 'Succeeded');
  assert.equal(report?.triggeredBy, 'ui-operator');
  assert.ok(await servingPid(service), 'the service answers after a restart started from the UI');
});
