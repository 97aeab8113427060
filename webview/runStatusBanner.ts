/**
 * The panel shell's word on the last analysis run: running, failed (the whole message, what
 * to do next, and buttons for the log and another model) or cancelled, always with what the
 * panel still shows meanwhile, so an old result is never taken for the new one.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import type { AnalysisInfo, FromWebview, RunStatus } from '../protocol/messages';
import { h, replace } from './dom';
import { dateTime } from './format';

export class RunStatusBanner {
  readonly element: HTMLElement;
  private status: RunStatus | null = null;
  private shown: AnalysisInfo | null = null;
  /** The status the user dismissed; a new one shows again. */
  private dismissed: RunStatus | null = null;

  constructor(private readonly post: (message: FromWebview) => void) {
    this.element = h('div', { class: 'run-status', hidden: true });
  }

  setStatus(status: RunStatus | null): void {
    this.status = status;
    this.render();
  }

  /** The analysis on screen, which the banner says is still shown. */
  setShown(info: AnalysisInfo | null): void {
    this.shown = info;
    this.render();
  }

  private button(label: string, onClick: () => void, secondary = true): HTMLElement {
    const b = h('vscode-button', { secondary }, label);
    b.addEventListener('click', onClick);
    return b;
  }

  private stillShown(): string {
    const s = this.shown;
    if (!s) return '';
    const when = s.file ? ` (analyzed ${dateTime(s.file.savedAt)})` : '';
    return `The panel still shows ${s.label}${when}.`;
  }

  private render(): void {
    const s = this.status;
    this.element.hidden = !s || s === this.dismissed;
    if (!s || this.element.hidden) return;
    this.element.dataset.state = s.state;
    this.element.setAttribute('role', s.state === 'failed' ? 'alert' : 'status');
    const dismiss = this.button('Dismiss', () => {
      this.dismissed = s;
      this.render();
    });
    if (s.state === 'running') {
      replace(
        this.element,
        h('p', {}, `Analyzing ${s.label}… `, this.shown ? this.stillShown().replace(/\.$/, ' until it finishes.') : ''),
      );
      return;
    }
    if (s.state === 'cancelled') {
      replace(
        this.element,
        h('p', {}, `The analysis of ${s.label} was cancelled at ${dateTime(s.at)}. `, this.stillShown()),
        h('div', { class: 'controls' }, dismiss),
      );
      return;
    }
    replace(
      this.element,
      h('h2', {}, `The last analysis failed: ${s.label}`),
      h('p', { class: 'message' }, s.message ?? ''),
      s.hints?.length ? h('ul', { class: 'hints' }, ...s.hints.map((hint) => h('li', {}, hint))) : null,
      h('p', { class: 'note' }, `Failed at ${dateTime(s.at)}. `, this.stillShown()),
      h(
        'div',
        { class: 'controls' },
        this.button('Show Log', () => this.post({ type: 'runCommand', command: 'showLog' }), false),
        this.button('Analyze a Model…', () => this.post({ type: 'runCommand', command: 'analyzeModel' })),
        dismiss,
      ),
    );
  }
}
