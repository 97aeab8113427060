// For suites that start a server: a port to give it, code-server's command line, and the end of its log when it fails.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolvePort(port));
    });
  });
}

/** The last `lines` lines of a log file, or "(no log)" when it cannot be read. */
export function tail(file, lines = 20) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * code-server's arguments for a test: on 127.0.0.1:port, no password, telemetry, update check or
 * getting-started page, a 5 s reconnection grace, its own user data and extensions, opening
 * `folder`; workspace trust is off unless `trust` (the Restricted Mode suite turns it on).
 */
export function codeServerArgs({ entry, port, userData, extensions, folder, trust = false, more = [] }) {
  return [
    entry,
    '--bind-addr',
    `127.0.0.1:${port}`,
    '--auth',
    'none',
    '--disable-telemetry',
    '--disable-update-check',
    ...(trust ? [] : ['--disable-workspace-trust']),
    '--disable-getting-started-override',
    '--reconnection-grace-time',
    '5',
    '--user-data-dir',
    userData,
    '--extensions-dir',
    extensions,
    ...more,
    folder,
  ];
}
