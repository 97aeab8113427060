/**
 * The panel webview: the shell (title, run line, stack picker, empty state) around the
 * sections in the list below, the router of the host's messages, and the `ready` handshake
 * once it can receive data. It renders what the host sends; no similarity or plan is
 * computed here.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import type { AnalysisMessage, FromWebview, RunCommandMessage, ToWebview } from '../protocol/messages';
import { RequestClient } from '../protocol/requests';
import { AttentionView } from './attentionView';
import { applyChartTheme } from './charts';
import { CompareView } from './compareView';
import { SelectControl } from './controls';
import { h, replace } from './dom';
import { duration } from './format';
import { PlannerView } from './plannerView';
import { RedundancyView } from './redundancyView';
import type { PanelEvent, Section } from './section';
import { SequentialView } from './sequentialView';
import { StackData } from './stackData';
import type { Palette } from './theme';
import { readPalette, watchTheme } from './theme';
import { TrainingView } from './trainingView';
import type { ViewContext } from './viewContext';
import { ViewStateStore } from './viewState';

const api = acquireVsCodeApi();
const post = (message: FromWebview) => api.postMessage(message);
let palette: Palette = readPalette();
applyChartTheme(palette);
const requests = new RequestClient(post);
const ctx: ViewContext = {
  post,
  palette: () => palette,
  state: new ViewStateStore(api),
  request: (body) => requests.request(body),
  raise: (event) => raise(event),
};

/** The panel's sections, in page order: a new chart is a Section and one line here. */
const sections: Section[] = [
  new RedundancyView(ctx),
  new SequentialView(ctx),
  new AttentionView(ctx),
  new PlannerView(ctx),
  new TrainingView(ctx),
  new CompareView(ctx),
];

let stacks: StackData[] = [];

const title = h('h1', { class: 'title' }, 'Attention Reuse');
const runInfo = h('p', { class: 'run-info' });
const stackSelect = new SelectControl('Stack', 'stack', (name) => showStack(name));
const openDetail = h('vscode-button', { secondary: true, 'data-action': 'open-detail', hidden: true }, 'Open in Editor');
openDetail.addEventListener('click', () => post({ type: 'openDetail' }));

const commandButton = (label: string, command: RunCommandMessage['command'], secondary = false) => {
  const b = h('vscode-button', { secondary, 'data-command': command }, label);
  b.addEventListener('click', () => post({ type: 'runCommand', command }));
  return b;
};
const empty = h(
  'div',
  { class: 'empty' },
  h('p', {}, 'No analysis to show yet. Analyze a model to see how much of its attention each layer recomputes.'),
  h(
    'div',
    { class: 'controls' },
    commandButton('Analyze the Sample Model', 'analyzeSample'),
    commandButton('Analyze a Model…', 'analyzeModel', true),
    commandButton('Open Analysis File…', 'openAnalysis', true),
  ),
);
const withAnalysis = h('div', { class: 'sections', hidden: true }, ...sections.filter((s) => s.needsAnalysis).map((s) => s.element));
const root = document.getElementById('app') ?? document.body;
replace(
  root,
  h('header', { class: 'topbar' }, title, runInfo, h('div', { class: 'controls' }, stackSelect.element, openDetail)),
  empty,
  withAnalysis,
  ...sections.filter((s) => !s.needsAnalysis).map((s) => s.element),
);

function current(): StackData | null {
  const name = ctx.state.get().stack;
  return stacks.find((s) => s.name === name) ?? stacks[0] ?? null;
}

function showAnalysis(msg: AnalysisMessage): void {
  stacks = msg.stacks.map((s) => new StackData(s));
  const info = msg.info;
  empty.hidden = info !== null && stacks.length > 0;
  withAnalysis.hidden = !empty.hidden;
  title.textContent = info ? info.label : 'Attention Reuse';
  runInfo.textContent = info
    ? `${info.run.examples} examples, ${info.run.tokens} tokens · ${info.run.executionProvider}, ${info.run.precision} · ${duration(info.run.seconds)}`
    : '';
  runInfo.title = info ? info.model.path : '';
  stackSelect.element.hidden = stacks.length < 2;
  const chosen = current();
  stackSelect.setChoices(stacks.map((s) => ({ value: s.name, label: `${s.name} (${s.payload.kind})` })), chosen?.name ?? '');
  for (const s of sections) s.setAnalysis?.(info);
  showStack(chosen?.name ?? null);
}

function showStack(name: string | null): void {
  ctx.state.update({ stack: name });
  const stack = current();
  for (const s of sections) s.setStack?.(stack);
}

function raise(event: PanelEvent): void {
  for (const s of sections) s.onEvent?.(event);
}

function repaint(): void {
  palette = readPalette();
  applyChartTheme(palette);
  for (const s of sections) s.repaint();
}

function handle(msg: ToWebview): void {
  if (requests.settle(msg)) return;
  // The shell handles two messages; every other one is for the sections, which pick theirs.
  if (msg.type === 'settings') {
    document.body.classList.toggle('host-sidebar', msg.host === 'sidebar');
    document.body.classList.toggle('host-editor', msg.host === 'editor');
    openDetail.hidden = msg.host !== 'sidebar';
    repaint();
  } else if (msg.type === 'analysis') {
    showAnalysis(msg);
  } else {
    for (const s of sections) s.receive?.(msg);
  }
}

window.addEventListener('message', (event: MessageEvent<ToWebview>) => {
  try {
    handle(event.data);
  } catch (err) {
    post({ type: 'log', level: 'error', message: `panel could not handle "${String(event.data?.type)}": ${(err as Error).message}` });
  }
});
window.addEventListener('error', (e) => post({ type: 'log', level: 'error', message: `panel error: ${e.message}` }));
// VS Code swaps the body's theme class without a message when the user changes theme.
watchTheme(repaint);
post({ type: 'ready' });
