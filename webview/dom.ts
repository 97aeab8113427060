/**
 * Small DOM helpers. Text always goes in through text nodes: token strings and file names
 * are untrusted, and nothing here ever parses a string as HTML.
 */

type Child = Node | string | number | null | undefined | false;

/** Creates an element with attributes (set as attributes, never as HTML) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Record<string, string | number | boolean | undefined>,
  ...children: Child[]
): HTMLElementTagNameMap[K];
export function h(tag: string, attrs?: Record<string, string | number | boolean | undefined>, ...children: Child[]): HTMLElement;
export function h(tag: string, attrs: Record<string, string | number | boolean | undefined> = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, ...children);
  return el;
}

export function append(el: Element, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
}

/** Replaces all children of `el`. */
export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, ...children);
}

/** A table whose cells are text; `rows` may hold nodes for cells that need markup of ours. */
export function table(caption: string, head: string[], rows: Child[][], className = 'data'): HTMLTableElement {
  const t = h('table', { class: className });
  if (caption) t.append(h('caption', {}, caption));
  t.append(h('thead', {}, h('tr', {}, ...head.map((c) => h('th', { scope: 'col' }, c)))));
  const body = h('tbody');
  for (const r of rows) body.append(h('tr', {}, ...r.map((c) => h('td', {}, c))));
  t.append(body);
  return t;
}
