/**
 * The panel webview: the shell (title, run line, which file it shows and since when, the
 * last run's status, a model card, stack picker, empty state) around the sections in the list
 * below, the router of the host's messages, and the `ready` handshake once it can receive
 * data. It renders what the host sends; no similarity or plan is computed here.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import type { AnalysisMessage, FromWebview, RunCommandMessage, ToWebview } from '../protocol/messages';
import type { ModelSummaryPayload } from '../protocol/modelMessages';
import { RequestClient } from '../protocol/requests';
import { AttentionView } from './attentionView';
import { applyChartTheme } from './charts';
import { CompareView } from './compareView';
import { SelectControl } from './controls';
import { h, replace } from './dom';
import { dateTime, duration } from './format';
import { LengthView } from './lengthView';
import { modelSummaryView } from './modelSummaryView';
import { PlannerView } from './plannerView';
import { RedundancyView } from './redundancyView';
import { RunStatusBanner } from './runStatusBanner';
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
  new LengthView(ctx),
  new AttentionView(ctx),
  new PlannerView(ctx),
  new TrainingView(ctx),
  new CompareView(ctx),
];

let stacks: StackData[] = [];

const title = h('h1', { class: 'title' }, 'Attention Reuse');
const runInfo = h('p', { class: 'run-info' });
const fileInfo = h('p', { class: 'run-info file-info' });
const status = new RunStatusBanner(post);
const modelCard = h('div', { class: 'model-card', hidden: true });
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
  h('header', { class: 'topbar' }, title, runInfo, fileInfo, h('div', { class: 'controls' }, stackSelect.element, openDetail)),
  status.element,
  modelCard,
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
  // Another analysis: the previous one's selections and scroll position mean nothing for it.
  if ((info?.id ?? null) !== ctx.state.get().analysis) {
    ctx.state.resetFor(info?.id ?? null);
    window.scrollTo(0, 0);
  }
  empty.hidden = info !== null && stacks.length > 0;
  withAnalysis.hidden = !empty.hidden;
  title.textContent = info ? info.label : 'Attention Reuse';
  runInfo.textContent = info
    ? `${info.run.examples} examples, ${info.run.tokens} tokens · ${info.run.executionProvider}, ${info.run.precision} · ${duration(info.run.seconds)}`
    : '';
  runInfo.title = info ? info.model.path : '';
  fileInfo.textContent = info?.file ? `${info.file.name} · analyzed ${dateTime(info.file.savedAt)}` : info ? 'not saved' : '';
  fileInfo.title = info?.file?.path ?? '';
  status.setShown(info);
  stackSelect.element.hidden = stacks.length < 2;
  const chosen = current();
  stackSelect.setChoices(
    stacks.map((s) => ({ value: s.name, label: `${s.name} (${s.description})` })),
    chosen?.name ?? '',
  );
  for (const s of sections) s.setAnalysis?.(info);
  showStack(chosen?.name ?? null);
}

function showModelCard(summary: ModelSummaryPayload | null): void {
  modelCard.hidden = summary === null;
  if (!summary) return;
  const close = h('vscode-button', { secondary: true, 'data-action': 'close-model' }, 'Close model card');
  close.addEventListener('click', () => (modelCard.hidden = true));
  replace(
    modelCard,
    modelSummaryView(summary, {
      heading: 'h2',
      actions: ['analyze', 'showLog'],
      onAction: (action) => post({ type: 'modelAction', action }),
    }),
    close,
  );
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
  // The shell handles these four messages; every other one is for the sections, which pick theirs.
  if (msg.type === 'settings') {
    document.body.classList.toggle('host-sidebar', msg.host === 'sidebar');
    document.body.classList.toggle('host-editor', msg.host === 'editor');
    openDetail.hidden = msg.host !== 'sidebar';
    repaint();
  } else if (msg.type === 'analysis') {
    showAnalysis(msg);
  } else if (msg.type === 'runStatus') {
    status.setStatus(msg.status);
  } else if (msg.type === 'modelSummary') {
    showModelCard(msg.summary);
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
