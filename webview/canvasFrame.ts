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

/** Where a chart of square cells draws, in CSS pixels. */
export interface GridGeometry {
  width: number;
  height: number;
  /** The cells' left and top edge (labels and titles go outside). */
  left: number;
  top: number;
  /** One cell's side. */
  cell: number;
}

/** Lets tests and tools find a cell: left, top and size of the cells, in CSS pixels, and the grid's rows and columns. */
export function publishGrid(canvas: HTMLCanvasElement, g: GridGeometry, rows: number, cols: number): void {
  canvas.dataset.grid = `${g.left},${g.top},${g.cell},${rows},${cols}`;
}

/** The line under a chart that reads out the hovered cell; screen readers hear it change. */
export function readout(text = ''): HTMLElement {
  return h('div', { class: 'readout', 'aria-live': 'polite' }, text);
}
