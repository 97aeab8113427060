/** Export buttons under each chart: PNG, CSV and (where the chart has one) SVG, saved by the host. */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import type { ExportFormat, FromWebview } from '../protocol/messages';
import { h } from './dom';

export type Post = (message: FromWebview) => void;

export interface Exporters {
  /** A `data:image/png;base64,` URL. */
  png?: () => string;
  csv?: () => string;
  svg?: () => string;
}

/** One CSV line per row; fields quoted when they hold a comma, quote or line break. */
export function toCsv(rows: (string | number | null | undefined)[][]): string {
  const field = (v: string | number | null | undefined) => {
    if (v === null || v === undefined || (typeof v === 'number' && Number.isNaN(v))) return '';
    const s = String(v);
    // A leading =, +, - or @ makes spreadsheets run the cell as a formula; token strings are untrusted.
    const safe = typeof v === 'string' && /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
    return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
  };
  return rows.map((r) => r.map(field).join(',')).join('\n') + '\n';
}

/**
 * A row of small buttons that post `exportChart`. `name` is read at click time, because
 * what a chart shows (stack, layer pair) changes after the buttons are made. `what` names
 * what is exported ("attention map", or one name per format), so that each button says it:
 * "Export attention map as PNG" (a button that read only "PNG" would not say which chart).
 */
export function exportBar(
  post: Post,
  name: () => string,
  exporters: Exporters,
  what: string | Partial<Record<ExportFormat, string>>,
): HTMLElement {
  const bar = h('div', { class: 'export-bar', role: 'group', 'aria-label': typeof what === 'string' ? `Export ${what}` : 'Export' });
  for (const format of ['png', 'csv', 'svg'] as ExportFormat[]) {
    const make = exporters[format];
    if (!make) continue;
    const thing = (typeof what === 'string' ? what : what[format]) ?? 'chart';
    const text = `Export ${thing} as ${format.toUpperCase()}`;
    const button = h('vscode-button', { secondary: true, 'data-export': format, title: text }, text);
    button.addEventListener('click', () => {
      const data = make();
      if (data) post({ type: 'exportChart', chart: name(), format, data });
    });
    bar.append(button);
  }
  return bar;
}
