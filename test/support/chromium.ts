/** Debian's Chromium, driven by playwright-core, started the way ENVIRONMENT.md says works here. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Headless, no sandbox (root), and nothing that reaches out to Google's hosts on its own: this
 * machine's closed network refuses those connections.
 */
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Fails with how to install Chromium when it is missing. */
function requireChromium(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: run \`bash scripts/services.sh --for-tests\` (or set CHROMIUM_PATH)`,
    );
  }
}

/** Starts Chromium; fails with how to install it when it is missing. */
export async function launchChromium(): Promise<Browser> {
  requireChromium();
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}

/**
 * Chromium for tests of several tabs (test/e2e/client-tabs.test.ts), started so that a tab can
 * really be frozen.
 *
 * `launchChromium()` lets Playwright add its per-page defaults, and one
 * of them, focus emulation, makes Chromium treat every page as being captured: such a page is never
 * hidden, so `Page.setWebLifecycleState({ state: 'frozen' })` leaves it running and fires no
 * `freeze` event (seen with Chromium 156). Here Chromium is started with the same flags plus a
 * DevTools port, and Playwright attaches over CDP with `noDefaults`, which leaves the default
 * context's pages as the browser made them: frozen, a page fires `visibilitychange` and `freeze`,
 * and its timers stop; made active, it fires `resume`.
 */
export interface LifecycleChromium {
  readonly browser: Browser;
  /** The browser's default context: its pages share Web Locks and BroadcastChannels, as tabs do. */
  readonly context: BrowserContext;
  close(): Promise<void>;
}

export async function launchChromiumWithLifecycle(): Promise<LifecycleChromium> {
  requireChromium();
  const profile = await mkdtemp(path.join(os.tmpdir(), 'client-tabs-chromium-'));
  const child = spawn(
    CHROMIUM,
    [...ARGS, '--remote-debugging-port=0', `--user-data-dir=${profile}`, 'about:blank'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  const endpoint = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`Chromium did not say where DevTools listens within 15 s:\n${stderr}`)),
      15_000,
    );
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Chromium exited (${code}) before DevTools listened:\n${stderr}`));
    });
  });
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    await rm(profile, { recursive: true, force: true });
  };
  try {
    const browser = await chromium.connectOverCDP(endpoint, { noDefaults: true, isLocal: true });
    return {
      browser,
      context: browser.contexts()[0]!,
      async close() {
        await browser.close().catch(() => undefined);
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
        await kill();
      },
    };
  } catch (err) {
    await kill();
    throw err;
  }
}
