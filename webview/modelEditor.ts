/**
 * The `.onnx` editor's page: the model summary the host sends after `ready`, and its
 * buttons, which post `modelAction`. It computes nothing and keeps no state.
 */
import type { FromModelEditor, ToModelEditor } from '../protocol/modelMessages';
import { h, replace } from './dom';
import { modelSummaryView } from './modelSummaryView';

const api = acquireVsCodeApi();
const post = (message: FromModelEditor) => api.postMessage(message);
const root = document.getElementById('app') ?? document.body;
document.body.classList.add('host-editor', 'model-page');
replace(root, h('p', { class: 'run-info' }, 'Reading the model…'));

window.addEventListener('message', (event: MessageEvent<ToModelEditor>) => {
  const msg = event.data;
  if (msg?.type !== 'modelSummary') return;
  replace(
    root,
    msg.summary
      ? modelSummaryView(msg.summary, {
          heading: 'h1',
          actions: ['analyze', 'inspectInPanel', 'showLog'],
          onAction: (action) => post({ type: 'modelAction', action }),
        })
      : h('p', { class: 'run-info' }, 'No model.'),
  );
});
post({ type: 'ready' });
