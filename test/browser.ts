import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium (`apt-get install chromium`); never a downloaded browser. */
const CHROMIUM = '/usr/bin/chromium';

/** Whether browser tests can run here; says why not, once per test file, when they cannot. */
export function hasChromium(what: string): boolean {
  if (fs.existsSync(CHROMIUM)) return true;
  console.warn(`${what} skipped: ${CHROMIUM} not found (apt-get install chromium)`);
  return false;
}

/** Headless Chromium driven by playwright-core, with no traffic of its own to the outside. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}
