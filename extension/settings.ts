/**
 * The extension's settings, read through the types, enums and bounds that package.json
 * declares for them (one source of truth: a value the settings editor would flag is
 * replaced by its default or clamped, never passed on), and the two that need resolving:
 * the Python interpreter and the output folder.
 */
import * as vscode from 'vscode';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { ProviderChoice } from '../analysis/runtime/providers';

export interface Settings {
  /** package.json's enum for it is `providerChoices` (test/unit/providerSetting.test.ts keeps them equal). */
  executionProvider: ProviderChoice;
  batchSize: number;
  examples: number;
  /** As set; empty means "ask the Python extension, else python3" (see `resolvePython`). */
  pythonPath: string;
  launcher: 'python' | 'torchrun';
  /** torchrun processes. */
  processes: number;
  steps: number;
  /** Examples per optimizer step over all processes and micro-batches (attentionReuse.training.batchSize). */
  trainBatchSize: number;
  /** Micro-batches per step (gradient accumulation). */
  accumulate: number;
  precision: 'fp32' | 'bf16' | 'fp16';
  norm: 'post' | 'pre';
  position: 'absolute' | 'relative';
  /** Steps between held-out evaluations; 0: none. */
  evalEvery: number;
  evalBatches: number;
  /** Stop with a checkpoint after this many minutes; 0: no limit. */
  maxMinutes: number;
  /** Share of text lines held out for evaluation. */
  heldOut: number;
  /** As set; empty means the default folder (see `outputFolder`). */
  outputFolder: string;
}

export interface ResolvedPython {
  path: string;
  from: 'setting' | 'python extension' | 'default';
}

/** The settings as the extension applies them, with the two that need resolving resolved. */
export interface EffectiveSettings {
  settings: Settings;
  python: ResolvedPython;
  outputFolder: string;
}

interface PropertySchema {
  type?: string;
  default?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
}

const section = 'attentionReuse';

/** The active interpreter API of ms-python.python (the parts read here). */
interface PythonExtensionApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { path: string };
    resolveEnvironment?(path: string | { path: string }): Promise<{ executable?: { uri?: vscode.Uri } } | undefined>;
  };
}

export class SettingsReader {
  private readonly schema: Record<string, PropertySchema>;
  private readonly restricted: Set<string>;
  private readonly warned = new Set<string>();

  constructor(
    private readonly context: Pick<vscode.ExtensionContext, 'extension' | 'globalStorageUri'>,
    private readonly output?: vscode.LogOutputChannel,
  ) {
    const pkg = context.extension.packageJSON as {
      contributes?: { configuration?: { properties?: Record<string, PropertySchema> } };
      capabilities?: { untrustedWorkspaces?: { restrictedConfigurations?: string[] } };
    };
    this.schema = pkg.contributes?.configuration?.properties ?? {};
    this.restricted = new Set(pkg.capabilities?.untrustedWorkspaces?.restrictedConfigurations ?? []);
  }

  read(scope?: vscode.Uri): Settings {
    const get = (key: string) => this.value(key, scope);
    return {
      executionProvider: get('executionProvider') as ProviderChoice,
      batchSize: get('batchSize') as number,
      examples: get('examples') as number,
      pythonPath: (get('pythonPath') as string).trim(),
      launcher: get('training.launcher') as Settings['launcher'],
      processes: get('training.processes') as number,
      steps: get('training.steps') as number,
      trainBatchSize: get('training.batchSize') as number,
      accumulate: get('training.accumulate') as number,
      precision: get('training.precision') as Settings['precision'],
      norm: get('training.norm') as Settings['norm'],
      position: get('training.position') as Settings['position'],
      evalEvery: get('training.evalEvery') as number,
      evalBatches: get('training.evalBatches') as number,
      maxMinutes: get('training.maxMinutes') as number,
      heldOut: get('training.heldOut') as number,
      outputFolder: (get('outputFolder') as string).trim(),
    };
  }

  /** One setting, checked against its declared schema. */
  value(key: string, scope?: vscode.Uri): unknown {
    const id = `${section}.${key}`;
    const schema = this.schema[id];
    if (!schema) throw new Error(`${id} is not declared in package.json`);
    const config = vscode.workspace.getConfiguration(section, scope);
    let raw: unknown = config.get(key);
    // Restricted Mode: a workspace must not choose the interpreter or where files go.
    if (!vscode.workspace.isTrusted && this.restricted.has(id)) raw = config.inspect(key)?.globalValue ?? schema.default;
    return this.check(id, schema, raw);
  }

  private check(id: string, schema: PropertySchema, raw: unknown): unknown {
    const fallback = (why: string) => {
      this.warn(`${id} ${why}; using ${JSON.stringify(schema.default)}`);
      return schema.default;
    };
    if (schema.enum && !schema.enum.includes(raw)) return fallback(`must be one of ${schema.enum.join(', ')} (is ${JSON.stringify(raw)})`);
    if (schema.type === 'string') return typeof raw === 'string' ? raw : fallback('must be a string');
    if (schema.type === 'integer' || schema.type === 'number') {
      if (typeof raw !== 'number' || !Number.isFinite(raw)) return fallback('must be a number');
      let n = schema.type === 'integer' ? Math.round(raw) : raw;
      if (schema.minimum !== undefined && n < schema.minimum) n = schema.minimum;
      if (schema.maximum !== undefined && n > schema.maximum) n = schema.maximum;
      if (n !== raw) this.warn(`${id} is ${raw}, outside ${schema.minimum ?? '-∞'}..${schema.maximum ?? '∞'}; using ${n}`);
      return n;
    }
    return raw;
  }

  private warn(message: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    this.output?.warn(`settings: ${message}`);
  }

  /**
   * The interpreter to train with: the setting, else the Python extension's active
   * interpreter, else `python3` from PATH.
   */
  async resolvePython(scope?: vscode.Uri): Promise<ResolvedPython> {
    const configured = this.read(scope).pythonPath;
    if (configured) return { path: expandHome(configured), from: 'setting' };
    const extension = vscode.extensions.getExtension<PythonExtensionApi>('ms-python.python');
    if (extension) {
      try {
        const api = extension.isActive ? extension.exports : await extension.activate();
        const active = api?.environments?.getActiveEnvironmentPath(scope);
        if (active?.path) {
          // The active "path" may be an environment folder; resolving gives the executable.
          const resolved = await api.environments?.resolveEnvironment?.(active);
          return { path: resolved?.executable?.uri?.fsPath ?? active.path, from: 'python extension' };
        }
      } catch (err) {
        this.output?.warn(
          `settings: the Python extension did not name an interpreter (${err instanceof Error ? err.message : String(err)})`,
        );
      }
    }
    return { path: 'python3', from: 'default' };
  }

  /** Everything at once, for tests and bug reports. */
  async effective(scope?: vscode.Uri): Promise<EffectiveSettings> {
    return { settings: this.read(scope), python: await this.resolvePython(scope), outputFolder: this.outputFolder(scope) };
  }

  /** Where configs and runs go: the setting (relative to the workspace folder), else `.attention-reuse/` there, else global storage. */
  outputFolder(scope?: vscode.Uri): string {
    const configured = this.read(scope).outputFolder;
    const folder = (scope && vscode.workspace.getWorkspaceFolder(scope)) ?? vscode.workspace.workspaceFolders?.[0];
    if (configured) {
      const expanded = expandHome(configured);
      if (isAbsolute(expanded)) return expanded;
      return resolve(folder?.uri.fsPath ?? this.context.globalStorageUri.fsPath, expanded);
    }
    return folder ? join(folder.uri.fsPath, '.attention-reuse') : this.context.globalStorageUri.fsPath;
  }
}

function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? join(homedir(), path.slice(1)) : path;
}
