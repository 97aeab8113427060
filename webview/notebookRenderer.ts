/**
 * The notebook renderer for `application/vnd.attention-reuse.analysis+json` (package.json
 * `contributes.notebookRenderer`): a cell output holding an analysis file (media/trainer/
 * notebook.py emits one) is drawn as the panel's layer-pair heatmap, one per stack, with
 * the same cells, colours and readout (layerPairSpec.ts, gridChart.ts). It runs in the
 * notebook's output webview, with no host to ask: the output is untrusted data, checked
 * for shape and size before anything is drawn, and every name in it is drawn as text.
 */
import { stackPayload } from '../protocol/stackPayload';
import type { AnalysisStackFields } from '../protocol/stackPayload';
import { h, replace } from './dom';
import { duration } from './format';
import { GridChart } from './gridChart';
import { layerPairSpec } from './layerPairSpec';
import { StackData } from './stackData';
import { readPalette, watchTheme } from './theme';

export const analysisMime = 'application/vnd.attention-reuse.analysis+json';

/** What VS Code hands `renderOutputItem` (vscode-notebook-renderer's OutputItem, the parts read here). */
export interface OutputItem {
  readonly id: string;
  readonly mime: string;
  json(): unknown;
}

/** Heads a stack may have for the renderer: headPairs grows with their square. */
const maxHeads = 4096;
const maxStacks = 16;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const count = (v: unknown, max: number) => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= max;

/** The stacks of an analysis file, checked enough to be drawn; an Error names what is wrong. */
export function readStacks(data: unknown): { file: Json; stacks: StackData[] } {
  if (!isObject(data) || data.schema !== 'attention-reuse/analysis@1')
    throw new Error('this output is not an attention-reuse/analysis@1 file');
  const stacks = data.stacks;
  if (!Array.isArray(stacks) || stacks.length === 0 || stacks.length > maxStacks)
    throw new Error(`"stacks" must hold 1 to ${maxStacks} stacks`);
  return {
    file: data,
    stacks: stacks.map((s, i) => {
      if (!isObject(s) || typeof s.name !== 'string' || !count(s.layerCount, maxHeads) || !count(s.headCount, maxHeads)) {
        throw new Error(`stacks[${i}] has no name, layerCount or headCount`);
      }
      if ((s.layerCount as number) * (s.headCount as number) > maxHeads) throw new Error(`stacks[${i}] has more than ${maxHeads} heads`);
      if (!Array.isArray(s.sequential) || !s.sequential.every((row) => Array.isArray(row) && row.every(isObject)))
        throw new Error(`stacks[${i}].sequential is malformed`);
      // The sizes are not drawn here; the arrays are checked for shape by stackPayload.
      const dims = { hidden: null, ffn: null, vocab: null, maxPositions: null };
      return new StackData(stackPayload({ ...(s as unknown as AnalysisStackFields), kind: s.kind === 'cross' ? 'cross' : 'self', dims }));
    }),
  };
}

const baseName = (path: unknown) => (typeof path === 'string' ? (path.split(/[\\/]/).pop() ?? path) : 'model');

/** Draws an analysis into `element`; returns the charts, which follow theme changes. */
export function renderAnalysis(data: unknown, element: HTMLElement): GridChart[] {
  let read;
  try {
    read = readStacks(data);
  } catch (err) {
    replace(element, h('p', { role: 'alert' }, `Attention Reuse cannot draw this output: ${(err as Error).message}.`));
    return [];
  }
  const { file, stacks } = read;
  const model = isObject(file.model) ? file.model : {};
  const run = isObject(file.run) ? file.run : {};
  const facts = [
    typeof run.examples === 'number' ? `${run.examples} examples` : null,
    typeof run.tokens === 'number' ? `${run.tokens} tokens` : null,
    typeof run.executionProvider === 'string' ? run.executionProvider : null,
    typeof run.seconds === 'number' ? duration(run.seconds) : null,
  ].filter(Boolean);
  const palette = readPalette();
  const charts: GridChart[] = [];
  const figures = stacks.map((stack) => {
    const chart = new GridChart({
      label: `Layer-pair similarity heatmap of ${stack.name}`,
      hint: 'Hover a cell (or focus the chart and use the arrow keys) for its value.',
    });
    chart.set(layerPairSpec(stack), palette);
    charts.push(chart);
    chart.element.style.overflowX = 'auto';
    return h(
      'figure',
      { class: 'attention-reuse-stack' },
      h('figcaption', {}, `${stack.name} (${stack.payload.kind}-attention): ${stack.L} layers × ${stack.H} heads`),
      chart.element,
    );
  });
  const title = h('h3', {}, `Layer-pair similarity — ${baseName(model.path)}`);
  const note = h(
    'p',
    {},
    'How well each layer l′ can stand in for the best-matched head of layer l (1 = the same attention). Read a value against the heads’ similarity to uniform attention, in the readout.',
  );
  const root = h(
    'div',
    { class: 'attention-reuse-analysis', 'data-mime': analysisMime },
    title,
    h('p', {}, facts.join(' · ')),
    note,
    ...figures,
  );
  for (const p of root.querySelectorAll('p, figcaption')) (p as HTMLElement).style.opacity = '0.8';
  for (const f of figures) f.style.margin = '8px 0';
  replace(element, root);
  return charts;
}

/** The renderer's entry point, as VS Code's notebook renderer API calls it. */
export function activate() {
  const rendered = new Map<string, GridChart[]>();
  // The output webview swaps its body's theme class without telling the renderer.
  watchTheme(() => {
    const palette = readPalette();
    for (const charts of rendered.values()) for (const c of charts) c.setPalette(palette);
  });
  return {
    renderOutputItem(item: OutputItem, element: HTMLElement): void {
      let data: unknown;
      try {
        data = item.json();
      } catch {
        data = undefined;
      }
      rendered.set(item.id, renderAnalysis(data, element));
    },
    disposeOutputItem(id?: string): void {
      if (id === undefined) rendered.clear();
      else rendered.delete(id);
    },
  };
}
