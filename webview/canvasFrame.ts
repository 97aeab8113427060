/** What every hand-drawn chart does with its canvas: size it for the screen, say where its cells are, and read values out. */
import { h } from './dom';

/** Sizes a canvas to `width` × `height` CSS pixels at the device pixel ratio, which it returns. */
export function fitCanvas(canvas: HTMLCanvasElement, width: number, height: number): number {
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  return dpr;
}

/** Lets tests and tools find a cell: left, top and size of the cells, in CSS pixels, and the grid's rows and columns. */
export function publishGrid(canvas: HTMLCanvasElement, left: number, top: number, cell: number, rows: number, cols: number): void {
  canvas.dataset.grid = `${left},${top},${cell},${rows},${cols}`;
}

/** The line under a chart that reads out the hovered cell; screen readers hear it change. */
export function readout(text = ''): HTMLElement {
  return h('div', { class: 'readout', 'aria-live': 'polite' }, text);
}
