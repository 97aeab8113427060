// Test helper: a stand-in for the `vscode` module, so that extension logic runs in plain Node.
// It holds only what the modules under test touch (settings, trust, folders, events, the
// theme kind). Import it before any extension module: it registers itself with Node's module
// resolver and require cache under the name `vscode`, which works however the test files are
// loaded (compiled from out/, or run as .ts by tsx in CommonJS mode), because every
// `require('vscode')` goes through Module._resolveFilename.
import Module from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The checkout's root: the nearest folder up from here with this project's package.json. */
export function repoRoot(from = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'attention-reuse') return dir;
    if (dirname(dir) === dir) throw new Error(`no attention-reuse package.json above ${from}`);
  }
}

interface PackageJson {
  contributes: { configuration: { properties: Record<string, { default?: unknown }> } };
}

export const packageJson = JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as PackageJson & Record<string, unknown>;

class Uri {
  private constructor(readonly fsPath: string) {}
  get path(): string {
    return this.fsPath;
  }
  static file(path: string): Uri {
    return new Uri(path);
  }
  static joinPath(base: Uri, ...parts: string[]): Uri {
    return new Uri(join(base.fsPath, ...parts));
  }
  toString(): string {
    return `file://${this.fsPath}`;
  }
}

class Disposable {
  constructor(private readonly onDispose: () => void) {}
  static from(...items: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => items.forEach((d) => d.dispose()));
  }
  dispose(): void {
    this.onDispose();
  }
}

class EventEmitter<T> {
  private readonly listeners = new Set<(e: T) => unknown>();
  readonly event = (listener: (e: T) => unknown) => {
    this.listeners.add(listener);
    return new Disposable(() => this.listeners.delete(listener));
  };
  fire(e: T): void {
    for (const l of [...this.listeners]) l(e);
  }
  dispose(): void {
    this.listeners.clear();
  }
}

const ColorThemeKind = { Light: 1, Dark: 2, HighContrast: 3, HighContrastLight: 4 } as const;
const ProgressLocation = { SourceControl: 1, Window: 10, Notification: 15 } as const;

/** A notification the code under test showed. */
export interface ShownMessage {
  level: 'info' | 'warning' | 'error';
  text: string;
  items: string[];
}

/** What a test sets: values by full key (`attentionReuse.batchSize`) at workspace and user level, trust, folders. */
export const fake = {
  workspaceValues: new Map<string, unknown>(),
  globalValues: new Map<string, unknown>(),
  trusted: true,
  folders: [] as { uri: Uri; name: string; index: number }[],
  themeKind: ColorThemeKind.Dark as number,
  /** Commands the code under test ran. */
  executed: [] as unknown[][],
  /** Notifications shown, and the button a test "clicks" on the next ones (none: dismissed). */
  messages: [] as ShownMessage[],
  answer: undefined as string | undefined,
  /** Progress notifications started, and how to press Cancel on the ones still running. */
  progressTitles: [] as string[],
  cancelProgress: new Set<() => void>(),
  reset(): void {
    this.messages = [];
    this.answer = undefined;
    this.progressTitles = [];
    this.cancelProgress.clear();
    this.workspaceValues.clear();
    this.globalValues.clear();
    this.trusted = true;
    this.folders = [];
    this.themeKind = ColorThemeKind.Dark;
    this.executed = [];
  },
};

const declared = packageJson.contributes.configuration.properties;

const workspace = {
  get isTrusted() {
    return fake.trusted;
  },
  get workspaceFolders() {
    return fake.folders.length > 0 ? fake.folders : undefined;
  },
  getWorkspaceFolder: (uri: Uri) => fake.folders.find((f) => uri.fsPath === f.uri.fsPath || uri.fsPath.startsWith(`${f.uri.fsPath}/`)),
  /** As VS Code merges them: workspace over user over the declared default. */
  getConfiguration: (section: string) => ({
    get: (key: string) => {
      const id = `${section}.${key}`;
      if (fake.workspaceValues.has(id)) return fake.workspaceValues.get(id);
      if (fake.globalValues.has(id)) return fake.globalValues.get(id);
      return declared[id]?.default;
    },
    inspect: (key: string) => {
      const id = `${section}.${key}`;
      return {
        key: id,
        defaultValue: declared[id]?.default,
        globalValue: fake.globalValues.get(id),
        workspaceValue: fake.workspaceValues.get(id),
      };
    },
  }),
};

export const vscodeStandIn = {
  Uri,
  Disposable,
  EventEmitter,
  ColorThemeKind,
  workspace,
  ProgressLocation,
  window: {
    get activeColorTheme() {
      return { kind: fake.themeKind };
    },
    showInformationMessage: async (text: string, ...items: string[]) => shown('info', text, items),
    showWarningMessage: async (text: string, ...items: string[]) => shown('warning', text, items),
    showErrorMessage: async (text: string, ...items: string[]) => shown('error', text, items),
    /** Runs the task with a progress that records nothing and a token that `fake.cancelProgress` cancels. */
    withProgress: async <R>(
      options: { title?: string },
      task: (progress: { report(v: unknown): void }, token: unknown) => Promise<R>,
    ): Promise<R> => {
      fake.progressTitles.push(options.title ?? '');
      const cancelled = new EventEmitter<void>();
      const token = { isCancellationRequested: false, onCancellationRequested: cancelled.event };
      const cancel = () => {
        token.isCancellationRequested = true;
        cancelled.fire();
      };
      fake.cancelProgress.add(cancel);
      try {
        return await task({ report: () => undefined }, token);
      } finally {
        fake.cancelProgress.delete(cancel);
      }
    },
  },
  extensions: { getExtension: () => undefined },
  commands: {
    executeCommand: async (...args: unknown[]) => {
      fake.executed.push(args);
      return undefined;
    },
  },
};

function shown(level: ShownMessage['level'], text: string, items: string[]): string | undefined {
  fake.messages.push({ level, text, items });
  return fake.answer !== undefined && items.includes(fake.answer) ? fake.answer : undefined;
}

const cacheKey = 'vscode (test/unit/vscodeStandIn.ts)';
const resolver = Module as unknown as { _resolveFilename(request: string, ...rest: unknown[]): string };
const resolve = resolver._resolveFilename;
resolver._resolveFilename = function (request: string, ...rest: unknown[]): string {
  return request === 'vscode' ? cacheKey : resolve.call(this, request, ...rest);
};
require.cache[cacheKey] = { id: cacheKey, filename: cacheKey, loaded: true, exports: vscodeStandIn } as unknown as NodeModule;

/** Log lines the code under test wrote, by level (a LogOutputChannel's methods); `show` is recorded as a line. */
export function recordingLog(): { lines: string[]; info(m: string): void; warn(m: string): void; error(m: string): void; show(): void } {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
    show: () => lines.push('show'),
  };
}

/** An extension context with what SettingsReader reads: the real package.json and a storage folder. */
export function fakeContext(globalStorage = '/global-storage'): { extension: { packageJSON: unknown }; globalStorageUri: Uri } {
  return { extension: { packageJSON: packageJson }, globalStorageUri: Uri.file(globalStorage) };
}

export { Uri as FakeUri };
