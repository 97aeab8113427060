// Reports what the reuse config JSON Schema cannot: contradictions between P, K, dims and the head map.
import * as vscode from 'vscode';
import { basename } from 'node:path';
import { checkReuseConfig, matchesConfigSchema } from '../analysis/config/reuseConfig';
import { InputError } from '../analysis/errors';

const configSuffix = '.reuse.json';
const debounceMs = 300;

type JsonPath = (string | number)[];

/** The first field a checkReuseConfig message names: `heads[2][1].reuse.layer` → ['heads', 2, 1, 'reuse', 'layer']. */
export function fieldOfMessage(message: string): JsonPath | undefined {
  const match = /(?:^|[\s(:])((?:heads|dims|source|estimates)(?:\[\d+\]|\.\w+)*|P|K|mode|stack|schema)(?=[\s.,:(]|$)/.exec(message);
  if (!match) return undefined;
  const path: JsonPath = [];
  for (const part of match[1].matchAll(/(\w+)|\[(\d+)\]/g)) path.push(part[2] !== undefined ? Number(part[2]) : part[1]);
  return path;
}

/**
 * Offsets of the deepest prefix of `path` found in JSON `text` (the key for an object member,
 * the value for an array element). The text already parsed with JSON.parse, so the scanner
 * only needs to follow structure, not report syntax errors.
 */
export function locateField(text: string, path: JsonPath): [number, number] | undefined {
  let pos = 0;
  let best: [number, number] | undefined;
  let bestDepth = 0;
  const space = () => {
    while (pos < text.length && /\s/.test(text[pos])) pos++;
  };
  const string = (): string => {
    const start = pos++;
    while (pos < text.length && text[pos] !== '"') pos += text[pos] === '\\' ? 2 : 1;
    pos++;
    return JSON.parse(text.slice(start, pos)) as string;
  };
  const note = (depth: number, range: [number, number]) => {
    if (depth > bestDepth) [best, bestDepth] = [range, depth];
  };
  // `depth` counts how many leading parts of `path` lead to this value; -1 once off the path.
  const value = (depth: number): void => {
    space();
    const c = text[pos];
    if (c === '{') {
      pos++;
      for (space(); text[pos] !== '}' && pos < text.length; space()) {
        const keyStart = pos;
        const key = string();
        const on = depth >= 0 && depth < path.length && path[depth] === key;
        if (on) note(depth + 1, [keyStart, pos]);
        space();
        pos++; // ':'
        value(on ? depth + 1 : -1);
        space();
        if (text[pos] === ',') pos++;
      }
      pos++;
    } else if (c === '[') {
      pos++;
      for (let i = 0; (space(), text[pos] !== ']') && pos < text.length; i++) {
        const on = depth >= 0 && depth < path.length && path[depth] === i;
        const start = pos;
        value(on ? depth + 1 : -1);
        if (on) note(depth + 1, [start, pos]);
        space();
        if (text[pos] === ',') pos++;
      }
      pos++;
    } else if (c === '"') {
      string();
    } else {
      while (pos < text.length && !/[\s,\]}]/.test(text[pos])) pos++;
    }
  };
  value(0);
  return best;
}

/** Publishes one error per open `*.reuse.json` document whose content contradicts itself. */
export class ConfigDiagnostics implements vscode.Disposable {
  private readonly collection = vscode.languages.createDiagnosticCollection('attentionReuse.config');
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly disposables: vscode.Disposable[] = [];

  static register(_context: vscode.ExtensionContext): vscode.Disposable {
    return new ConfigDiagnostics();
  }

  private constructor() {
    this.disposables.push(
      vscode.workspace.onDidOpenTextDocument((doc) => this.check(doc)),
      vscode.workspace.onDidChangeTextDocument((e) => this.schedule(e.document)),
      vscode.workspace.onDidCloseTextDocument((doc) => this.forget(doc.uri)),
    );
    for (const doc of vscode.workspace.textDocuments) this.check(doc);
  }

  private schedule(doc: vscode.TextDocument): void {
    if (!isConfig(doc)) return;
    const key = doc.uri.toString();
    clearTimeout(this.timers.get(key));
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        if (!doc.isClosed) this.check(doc);
      }, debounceMs),
    );
  }

  private forget(uri: vscode.Uri): void {
    const key = uri.toString();
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
    this.collection.delete(uri);
  }

  private check(doc: vscode.TextDocument): void {
    if (!isConfig(doc)) return;
    const text = doc.getText();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      // The JSON language service already reports syntax errors.
      this.collection.delete(doc.uri);
      return;
    }
    // The JSON language service reports what the schema registered for *.reuse.json refuses (a
    // wrong mode, a missing field); saying it again here would show the same mistake twice.
    if (!matchesConfigSchema(json)) {
      this.collection.delete(doc.uri);
      return;
    }
    const label = basename(doc.uri.path);
    try {
      checkReuseConfig(json, label);
      this.collection.delete(doc.uri);
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      const message = err.message.startsWith(`${label}: `) ? err.message.slice(label.length + 2) : err.message;
      const field = fieldOfMessage(message.replace(/^.*? is not a valid \S+ file: /, ''));
      const offsets = field && locateField(text, field);
      const range = offsets ? new vscode.Range(doc.positionAt(offsets[0]), doc.positionAt(offsets[1])) : doc.lineAt(0).range;
      const diagnostic = new vscode.Diagnostic(range, message, vscode.DiagnosticSeverity.Error);
      diagnostic.source = 'Attention Reuse';
      this.collection.set(doc.uri, [diagnostic]);
    }
  }

  dispose(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.disposables.forEach((d) => d.dispose());
    this.collection.dispose();
  }
}

function isConfig(doc: vscode.TextDocument): boolean {
  return doc.uri.path.endsWith(configSuffix);
}
