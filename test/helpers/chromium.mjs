// Headless Chromium for the browser suites: Debian's chromium, never a downloaded one, with
// the flags that work on these machines (no sandbox or GPU, nothing that reaches the network).
import { chromium } from 'playwright-core';

export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const chromiumFlags = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A headless persistent context with its profile in `profileDir`; `options` adds a viewport, scale and the like. */
export function launchChromium(profileDir, options = {}) {
  return chromium.launchPersistentContext(profileDir, { executablePath: chromiumPath, headless: true, args: chromiumFlags, ...options });
}
