/**
 * A model's summary as the `.onnx` editor and the panel's model card show it: what the tool
 * reads in the file, what it cannot read and why, and the buttons to go on. File and tensor
 * names are untrusted text and go in as text nodes (dom.ts).
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import type { ModelActionMessage, ModelSummaryPayload } from '../protocol/modelMessages';
import { h, table } from './dom';
import { fileSize } from './format';

type Action = ModelActionMessage['action'];

export interface SummaryOptions {
  /** The buttons to show, in order. */
  actions: Action[];
  onAction(action: Action): void;
  /** Heading level of the file name: the editor's page title, or a card inside the panel. */
  heading: 'h1' | 'h2';
}

const actionLabels: Record<Action, string> = { analyze: 'Analyze…', inspectInPanel: 'Inspect in Panel', showLog: 'Show Log' };

/** What the summary cannot tell, and why, one line each. */
function notRead(s: ModelSummaryPayload): string[] {
  const lines: string[] = [];
  if (s.problem) lines.push(`${s.problem.title}: nothing can be analyzed until this is fixed (see above).`);
  for (const st of s.stacks) {
    const missing = st.heads.map((n, l) => (n === null ? l : -1)).filter((l) => l >= 0);
    if (missing.length > 0)
      lines.push(`Heads of ${st.name} layers ${missing.join(', ')}: the graph does not fix them; they are counted when the model runs.`);
  }
  if (s.dims) {
    const why = 'no embedding table or weight of a BERT-like layout gives it';
    if (s.dims.vocab === null && s.inputs.some((i) => /input_ids$/.test(i.name)))
      lines.push(`Vocabulary size: ${why}; token ids are then not checked against it.`);
    if (s.dims.maxPositions === null) lines.push(`Position count: ${why}; text is cut at 128 tokens.`);
    if (s.dims.hidden === null || s.dims.ffn === null)
      lines.push(`Hidden or feed-forward size: ${why}; the planner's cost estimates then use the sizes you give it.`);
  }
  return lines;
}

export function modelSummaryView(s: ModelSummaryPayload, options: SummaryOptions): HTMLElement {
  const facts = [fileSize(s.bytes), s.opset !== null ? `opset ${s.opset}` : null, s.producer ? `written by ${s.producer}` : null]
    .filter(Boolean)
    .join(' · ');
  const buttons = options.actions
    // Analyzing a model that cannot be read would only say so again.
    .filter((a) => !(a === 'analyze' && s.problem))
    .map((a, i) => {
      const b = h('vscode-button', { secondary: i > 0, 'data-model-action': a }, actionLabels[a]);
      b.addEventListener('click', () => options.onAction(a));
      return b;
    });
  const problem =
    s.problem &&
    h(
      'div',
      { class: 'problem', role: 'alert', 'data-problem': s.problem.kind },
      h('h3', {}, `This model cannot be analyzed: ${s.problem.title.toLowerCase()}`),
      h('p', { class: 'message' }, s.problem.message),
      h('ul', { class: 'hints' }, ...s.problem.hints.map((hint) => h('li', {}, hint))),
    );
  const stacks =
    s.stacks.length > 0
      ? table(
          'Attention the tool can read',
          ['stack', 'kind', 'layers', 'heads'],
          s.stacks.map((st) => [st.name, `${st.kind}-attention`, st.layers, [...new Set(st.heads.map((n) => n ?? '?'))].join(' / ')]),
        )
      : null;
  const inputs =
    s.inputs.length > 0
      ? table(
          'Inputs the model takes',
          ['name', 'type', 'shape'],
          s.inputs.map((i) => [i.name, i.type, i.shape ? `[${i.shape.join(', ')}]` : 'not declared']),
        )
      : null;
  const dims = s.dims;
  const sizes = dims
    ? h(
        'dl',
        { class: 'ratios' },
        ...(
          [
            ['hidden size', dims.hidden],
            ['feed-forward size', dims.ffn],
            ['vocabulary', dims.vocab],
            ['positions', dims.maxPositions],
          ] as const
        ).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v === null ? 'not read' : String(v))]),
      )
    : null;
  const gaps = notRead(s);
  return h(
    'section',
    { class: 'model-summary', 'aria-label': `Model ${s.name}` },
    h(options.heading, { class: 'title' }, s.name),
    h('p', { class: 'run-info', title: s.path }, facts),
    problem,
    h('div', { class: 'controls' }, ...buttons),
    h('div', { class: 'table-wrap' }, stacks, inputs),
    sizes,
    gaps.length > 0
      ? h('div', { class: 'not-read' }, h('h3', {}, 'What the tool cannot read'), h('ul', {}, ...gaps.map((g) => h('li', {}, g))))
      : null,
  );
}
