/**
 * Table rows that open something (a head's attention map): each body row takes focus, opens
 * on a click, Enter or Space, and says what it opens to a screen reader and in its tooltip.
 */

/** Wires the body rows of `table`; row i calls `open(i)`. Returns the table. */
export function actionRows(table: HTMLTableElement, describe: (row: number) => string, open: (row: number) => void): HTMLTableElement {
  table.classList.add('action-rows');
  Array.from(table.tBodies[0]?.rows ?? []).forEach((tr, i) => {
    tr.tabIndex = 0;
    tr.title = describe(i);
    tr.setAttribute('aria-label', `${describe(i)}: ${tr.textContent ?? ''}`);
    tr.addEventListener('click', () => open(i));
    tr.addEventListener('keydown', (e) => {
      if (e.key !== 'Enter' && e.key !== ' ') return;
      e.preventDefault();
      open(i);
    });
  });
  return table;
}
