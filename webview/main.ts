/**
 * The panel webview: builds the sections, routes the host's messages to them and posts
 * `ready` once it can receive data. It renders what the host sends; no similarity or plan
 * is computed here.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import { assertNever } from '../protocol/assertNever';
import { RequestClient } from '../protocol/requests';
import { AttentionView } from './attentionView';
import { applyChartTheme } from './charts';
import { SelectControl } from './controls';
import { h, replace } from './dom';
import { duration } from './format';
import { PlannerView } from './plannerView';
import type { AnalysisMessage, FromWebview, PlanCandidatesMessage, RunCommandMessage, ToWebview } from '../protocol/messages';
import { RedundancyView } from './redundancyView';
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
const ctx: ViewContext = { post, palette: () => palette, state: new ViewStateStore(api), request: (body) => requests.request(body) };

let stacks: StackData[] = [];
let analysis: AnalysisMessage | null = null;
const plans = new Map<string, PlanCandidatesMessage>();

const attention = new AttentionView(ctx);
const redundancy = new RedundancyView(
  ctx,
  (l, l2) => current() && post({ type: 'selectLayerPair', stack: current()!.name, layer: l, otherLayer: l2 }),
  (l, hh) => attention.showHead(l, hh),
);
const sequential = new SequentialView(ctx);
const planner = new PlannerView(ctx);
const training = new TrainingView(ctx);

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
const sections = h('div', { class: 'sections', hidden: true }, redundancy.element, sequential.element, attention.element, planner.element);
const root = document.getElementById('app') ?? document.body;
replace(
  root,
  h('header', { class: 'topbar' }, title, runInfo, h('div', { class: 'controls' }, stackSelect.element, openDetail)),
  empty,
  sections,
  training.element,
);

function current(): StackData | null {
  const name = ctx.state.get().stack;
  return stacks.find((s) => s.name === name) ?? stacks[0] ?? null;
}

function showAnalysis(msg: AnalysisMessage): void {
  analysis = msg;
  stacks = msg.stacks.map((s) => new StackData(s));
  plans.clear();
  const info = msg.info;
  empty.hidden = info !== null && stacks.length > 0;
  sections.hidden = !empty.hidden;
  title.textContent = info ? info.label : 'Attention Reuse';
  runInfo.textContent = info
    ? `${info.run.examples} examples, ${info.run.tokens} tokens · ${info.run.executionProvider}, ${info.run.precision} · ${duration(info.run.seconds)}`
    : '';
  runInfo.title = info ? info.model.path : '';
  stackSelect.element.hidden = stacks.length < 2;
  const chosen = current();
  stackSelect.setChoices(stacks.map((s) => ({ value: s.name, label: `${s.name} (${s.payload.kind})` })), chosen?.name ?? '');
  showStack(chosen?.name ?? null);
}

function showStack(name: string | null): void {
  ctx.state.update({ stack: name });
  const s = current();
  const state = ctx.state.get();
  redundancy.setStack(s, state.pair);
  sequential.setStack(s, state.sequentialLayer);
  attention.setStack(s, analysis?.info ?? null);
  planner.setStack(s);
  const plan = s ? plans.get(s.name) : undefined;
  if (plan) planner.setPlan(plan);
}

function repaint(): void {
  palette = readPalette();
  applyChartTheme(palette);
  redundancy.repaint();
  sequential.repaint();
  attention.repaint();
  planner.repaint();
  training.repaint();
}

function handle(msg: ToWebview): void {
  if (requests.settle(msg)) return;
  switch (msg.type) {
    case 'settings':
      document.body.classList.toggle('host-sidebar', msg.host === 'sidebar');
      document.body.classList.toggle('host-editor', msg.host === 'editor');
      openDetail.hidden = msg.host !== 'sidebar';
      repaint();
      break;
    case 'analysis':
      showAnalysis(msg);
      break;
    case 'attentionMap':
    case 'requestFailed':
      break; // replies, settled above
    case 'planCandidates':
      plans.set(msg.stack, msg);
      if (current()?.name === msg.stack) planner.setPlan(msg);
      break;
    case 'metrics':
      training.append(msg);
      break;
    case 'focusLayerPair':
      if (current()?.name === msg.stack) redundancy.selectPair(msg.layer, msg.otherLayer, false);
      break;
    default:
      assertNever(msg);
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
