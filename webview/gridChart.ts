/**
 * A heatmap of labelled cells on one canvas: the layer-pair matrix, head-pair blocks, the
 * sequential ranks and the reuse head map. Drawn by hand rather than with chart.js so that
 * cells can carry text, the SVG export repeats the exact same geometry, and the keyboard
 * can walk the cells. The hover and keyboard readout is a DOM line, so values are also
 * available to screen readers.
 */
import { h } from './dom';
import type { Palette, Rgb } from './theme';
import { css, font, hex, ramp, textOn } from './theme';

export interface GridSpec {
  rows: number;
  cols: number;
  rowLabel(r: number): string;
  colLabel(c: number): string;
  rowTitle: string;
  colTitle: string;
  /** Value that sets a cell's ramp colour; NaN leaves the cell empty. */
  value(r: number, c: number): number;
  /** Colour domain of `value`, shown as a legend; absent for categorical grids. */
  domain?: [number, number];
  /** A categorical colour that replaces the ramp. */
  fill?(r: number, c: number, p: Palette): Rgb | null;
  /** Text drawn in the cell when it fits. */
  text?(r: number, c: number): string | null;
  /** The readout line for a cell. */
  describe(r: number, c: number): string;
}

export interface GridOptions {
  label: string;
  maxCell?: number;
  minCell?: number;
  /** Whether a click (or Enter) selects a cell. */
  onSelect?: (r: number, c: number) => void;
  /** What the readout says when no cell is hovered or selected. */
  hint?: string;
}

interface Layout {
  width: number;
  height: number;
  left: number;
  top: number;
  cell: number;
  colStep: number;
  rowStep: number;
  legend: boolean;
}

type Cell = [number, number];

export class GridChart {
  readonly element: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly readout: HTMLElement;
  private spec: GridSpec | null = null;
  private palette: Palette | null = null;
  private layout: Layout | null = null;
  private hover: Cell | null = null;
  private cursor: Cell | null = null;
  private selected: Cell | null = null;
  private lastWidth = 0;

  constructor(private readonly options: GridOptions) {
    this.canvas = h('canvas', { tabindex: 0, role: 'img', 'aria-label': options.label, class: 'grid-canvas' });
    this.readout = h('div', { class: 'readout', 'aria-live': 'polite' }, options.hint ?? '');
    this.element = h('div', { class: 'grid-chart' }, this.canvas, this.readout);
    this.canvas.addEventListener('mousemove', (e) => this.setHover(this.cellAt(e.offsetX, e.offsetY)));
    this.canvas.addEventListener('mouseleave', () => this.setHover(null));
    this.canvas.addEventListener('click', (e) => {
      const cell = this.cellAt(e.offsetX, e.offsetY);
      if (cell) this.choose(cell);
    });
    this.canvas.addEventListener('keydown', (e) => this.onKey(e));
    this.canvas.addEventListener('blur', () => {
      this.cursor = null;
      this.draw();
    });
    // Relayout when the view is resized (the sidebar is often dragged narrower).
    new ResizeObserver(() => {
      if (this.element.clientWidth !== this.lastWidth) this.draw();
    }).observe(this.element);
  }

  set(spec: GridSpec | null, palette: Palette): void {
    this.spec = spec;
    this.palette = palette;
    this.hover = null;
    this.cursor = null;
    if (this.selected && spec && (this.selected[0] >= spec.rows || this.selected[1] >= spec.cols)) this.selected = null;
    this.element.hidden = spec === null;
    this.draw();
  }

  setPalette(palette: Palette): void {
    this.palette = palette;
    this.draw();
  }

  select(cell: Cell | null): void {
    this.selected = cell;
    this.draw();
  }

  get selection(): Cell | null {
    return this.selected;
  }

  private choose(cell: Cell): void {
    if (!this.options.onSelect) return;
    this.selected = cell;
    this.draw();
    this.options.onSelect(cell[0], cell[1]);
  }

  private setHover(cell: Cell | null): void {
    if (cell?.[0] === this.hover?.[0] && cell?.[1] === this.hover?.[1]) return;
    this.hover = cell;
    this.draw();
  }

  private onKey(e: KeyboardEvent): void {
    if (!this.spec) return;
    const moves: Record<string, Cell> = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    const at = this.cursor ?? this.selected ?? [0, 0];
    if (moves[e.key]) {
      const [dr, dc] = moves[e.key];
      this.cursor = [Math.min(this.spec.rows - 1, Math.max(0, at[0] + dr)), Math.min(this.spec.cols - 1, Math.max(0, at[1] + dc))];
      this.draw();
      e.preventDefault();
    } else if (e.key === 'Enter' || e.key === ' ') {
      this.choose(at);
      e.preventDefault();
    }
  }

  private cellAt(x: number, y: number): Cell | null {
    const l = this.layout;
    if (!l || !this.spec) return null;
    const c = Math.floor((x - l.left) / l.cell);
    const r = Math.floor((y - l.top) / l.cell);
    return r >= 0 && c >= 0 && r < this.spec.rows && c < this.spec.cols ? [r, c] : null;
  }

  private computeLayout(ctx: CanvasRenderingContext2D, width: number): Layout {
    const spec = this.spec!;
    const p = this.palette!;
    ctx.font = font(p, 0.85);
    const widest = (n: number, label: (i: number) => string) => {
      let w = 0;
      for (let i = 0; i < n; i++) w = Math.max(w, ctx.measureText(label(i)).width);
      return w;
    };
    const rowLabelWidth = widest(spec.rows, (i) => spec.rowLabel(i));
    const colLabelWidth = widest(spec.cols, (i) => spec.colLabel(i));
    const line = p.fontSize + 4;
    const left = Math.ceil(line + rowLabelWidth + 8);
    const legend = spec.domain !== undefined;
    const right = legend ? 64 : 8;
    const maxCell = this.options.maxCell ?? 44;
    const minCell = this.options.minCell ?? 3;
    const cell = Math.max(minCell, Math.min(maxCell, Math.floor((width - left - right) / spec.cols)));
    const top = 8;
    const gridH = cell * spec.rows;
    const colStep = Math.max(1, Math.ceil((colLabelWidth + 6) / cell));
    const rowStep = Math.max(1, Math.ceil(line / cell));
    const height = Math.max(top + gridH + 2 * line + 8, legend ? 90 : 0);
    return { width: Math.max(width, left + cell * spec.cols + right), height, left, top, cell, colStep, rowStep, legend };
  }

  /** Redraws at the element's current width. */
  draw(): void {
    const spec = this.spec;
    const p = this.palette;
    if (!spec || !p) return;
    const width = Math.max(160, this.element.clientWidth || 320);
    this.lastWidth = this.element.clientWidth;
    const dpr = window.devicePixelRatio || 1;
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    const l = this.computeLayout(ctx, width);
    this.layout = l;
    this.canvas.width = Math.round(l.width * dpr);
    this.canvas.height = Math.round(l.height * dpr);
    this.canvas.style.width = `${l.width}px`;
    this.canvas.style.height = `${l.height}px`;
    // Lets tests and tools find a cell: left, top and size of the cells, in CSS pixels.
    this.canvas.dataset.grid = `${l.left},${l.top},${l.cell},${spec.rows},${spec.cols}`;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.paint(ctx, l, true);
    const focus = this.hover ?? this.cursor ?? this.selected;
    this.readout.textContent = focus ? spec.describe(focus[0], focus[1]) : (this.options.hint ?? '');
  }

  private cellColour(r: number, c: number): Rgb | null {
    const spec = this.spec!;
    const p = this.palette!;
    const fill = spec.fill?.(r, c, p);
    if (fill) return fill;
    const v = spec.value(r, c);
    if (Number.isNaN(v)) return null;
    const [lo, hi] = spec.domain ?? [0, 1];
    return ramp(p, hi > lo ? (v - lo) / (hi - lo) : 1);
  }

  private paint(ctx: CanvasRenderingContext2D, l: Layout, marks: boolean): void {
    const spec = this.spec!;
    const p = this.palette!;
    ctx.fillStyle = css(p.background);
    ctx.fillRect(0, 0, l.width, l.height);
    const small = font(p, 0.8);
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'center';
    for (let r = 0; r < spec.rows; r++) {
      for (let c = 0; c < spec.cols; c++) {
        const colour = this.cellColour(r, c);
        if (!colour) continue;
        const x = l.left + c * l.cell;
        const y = l.top + r * l.cell;
        ctx.fillStyle = css(colour);
        // Categorical cells (a head map) get a hairline gap, or runs of equal cells merge into blocks.
        const gap = spec.fill && l.cell >= 6 ? 1 : 0;
        ctx.fillRect(x + gap / 2, y + gap / 2, l.cell - gap, l.cell - gap);
        if (p.contrastBorder && l.cell >= 6) {
          ctx.strokeStyle = css(p.contrastBorder);
          ctx.lineWidth = 1;
          ctx.strokeRect(x + 0.5, y + 0.5, l.cell - 1, l.cell - 1);
        }
        const text = spec.text?.(r, c);
        if (text && l.cell >= p.fontSize + 4) {
          ctx.font = small;
          if (ctx.measureText(text).width <= l.cell - 4) {
            ctx.fillStyle = css(textOn(p, colour));
            ctx.fillText(text, x + l.cell / 2, y + l.cell / 2 + 0.5);
          }
        }
      }
    }
    this.paintAxes(ctx, l);
    if (l.legend) this.paintLegend(ctx, l);
    if (!marks) return;
    const outline = (cell: Cell | null, colour: Rgb, width: number, dash: number[]) => {
      if (!cell) return;
      ctx.setLineDash(dash);
      ctx.strokeStyle = css(colour);
      ctx.lineWidth = width;
      ctx.strokeRect(l.left + cell[1] * l.cell + width / 2, l.top + cell[0] * l.cell + width / 2, l.cell - width, l.cell - width);
      ctx.setLineDash([]);
    };
    outline(this.selected, p.focus, 2, []);
    outline(this.hover, p.foreground, 1, []);
    outline(this.cursor, p.focus, 2, [3, 2]);
  }

  private paintAxes(ctx: CanvasRenderingContext2D, l: Layout): void {
    const spec = this.spec!;
    const p = this.palette!;
    const line = p.fontSize + 4;
    const gridBottom = l.top + spec.rows * l.cell;
    ctx.fillStyle = css(p.muted);
    ctx.font = font(p, 0.85);
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (let r = 0; r < spec.rows; r += l.rowStep) ctx.fillText(spec.rowLabel(r), l.left - 4, l.top + (r + 0.5) * l.cell);
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (let c = 0; c < spec.cols; c += l.colStep) ctx.fillText(spec.colLabel(c), l.left + (c + 0.5) * l.cell, gridBottom + 3);
    ctx.fillStyle = css(p.foreground);
    ctx.font = font(p, 0.9);
    ctx.fillText(spec.colTitle, l.left + (spec.cols * l.cell) / 2, gridBottom + line + 2);
    ctx.save();
    ctx.translate(line / 2 + 1, l.top + (spec.rows * l.cell) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = 'middle';
    ctx.fillText(spec.rowTitle, 0, 0);
    ctx.restore();
  }

  private legendGeometry(l: Layout): { x: number; y: number; w: number; h: number } {
    const gridH = this.spec!.rows * l.cell;
    return { x: l.left + this.spec!.cols * l.cell + 14, y: l.top, w: 12, h: Math.max(60, gridH) };
  }

  private paintLegend(ctx: CanvasRenderingContext2D, l: Layout): void {
    const p = this.palette!;
    const [lo, hi] = this.spec!.domain!;
    const g = this.legendGeometry(l);
    const steps = 32;
    for (let i = 0; i < steps; i++) {
      ctx.fillStyle = css(ramp(p, 1 - i / (steps - 1)));
      ctx.fillRect(g.x, g.y + (i * g.h) / steps, g.w, g.h / steps + 0.5);
    }
    ctx.strokeStyle = css(p.border);
    ctx.strokeRect(g.x + 0.5, g.y + 0.5, g.w - 1, g.h - 1);
    ctx.fillStyle = css(p.muted);
    ctx.font = font(p, 0.8);
    ctx.textAlign = 'left';
    ctx.textBaseline = 'top';
    ctx.fillText(hi.toFixed(2), g.x + g.w + 4, g.y);
    ctx.textBaseline = 'bottom';
    ctx.fillText(lo.toFixed(2), g.x + g.w + 4, g.y + g.h);
  }

  /** The chart as a PNG data URL at twice the CSS size, without hover marks. */
  toPNG(): string {
    if (!this.spec || !this.palette || !this.layout) return '';
    const l = this.layout;
    const out = document.createElement('canvas');
    out.width = l.width * 2;
    out.height = l.height * 2;
    const ctx = out.getContext('2d')!;
    ctx.scale(2, 2);
    this.paint(ctx, l, false);
    return out.toDataURL('image/png');
  }

  /** The same drawing as SVG rects and text. */
  toSVG(): string {
    const spec = this.spec;
    const p = this.palette;
    const l = this.layout;
    if (!spec || !p || !l) return '';
    const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
    const fs = p.fontSize;
    const out: string[] = [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${l.width}" height="${l.height}" viewBox="0 0 ${l.width} ${l.height}" font-family="${esc(p.fontFamily)}">`,
      `<rect width="100%" height="100%" fill="${hex(p.background)}"/>`,
    ];
    for (let r = 0; r < spec.rows; r++) {
      for (let c = 0; c < spec.cols; c++) {
        const colour = this.cellColour(r, c);
        if (!colour) continue;
        const x = l.left + c * l.cell;
        const y = l.top + r * l.cell;
        const stroke = p.contrastBorder ? ` stroke="${hex(p.contrastBorder)}"` : '';
        out.push(`<rect x="${x}" y="${y}" width="${l.cell}" height="${l.cell}" fill="${hex(colour)}"${stroke}><title>${esc(spec.describe(r, c))}</title></rect>`);
        const text = spec.text?.(r, c);
        if (text && l.cell >= fs + 4 && text.length * fs * 0.5 <= l.cell - 4) {
          out.push(`<text x="${x + l.cell / 2}" y="${y + l.cell / 2}" font-size="${fs * 0.8}" text-anchor="middle" dominant-baseline="central" fill="${hex(textOn(p, colour))}">${esc(text)}</text>`);
        }
      }
    }
    const gridBottom = l.top + spec.rows * l.cell;
    const muted = hex(p.muted);
    for (let r = 0; r < spec.rows; r += l.rowStep) {
      out.push(`<text x="${l.left - 4}" y="${l.top + (r + 0.5) * l.cell}" font-size="${fs * 0.85}" text-anchor="end" dominant-baseline="central" fill="${muted}">${esc(spec.rowLabel(r))}</text>`);
    }
    for (let c = 0; c < spec.cols; c += l.colStep) {
      out.push(`<text x="${l.left + (c + 0.5) * l.cell}" y="${gridBottom + 3}" font-size="${fs * 0.85}" text-anchor="middle" dominant-baseline="hanging" fill="${muted}">${esc(spec.colLabel(c))}</text>`);
    }
    const line = fs + 4;
    const fg = hex(p.foreground);
    out.push(`<text x="${l.left + (spec.cols * l.cell) / 2}" y="${gridBottom + line + 2}" font-size="${fs * 0.9}" text-anchor="middle" dominant-baseline="hanging" fill="${fg}">${esc(spec.colTitle)}</text>`);
    const cy = l.top + (spec.rows * l.cell) / 2;
    out.push(`<text transform="translate(${line / 2 + 1} ${cy}) rotate(-90)" font-size="${fs * 0.9}" text-anchor="middle" dominant-baseline="central" fill="${fg}">${esc(spec.rowTitle)}</text>`);
    if (l.legend && spec.domain) {
      const g = this.legendGeometry(l);
      const steps = 32;
      for (let i = 0; i < steps; i++) {
        out.push(`<rect x="${g.x}" y="${g.y + (i * g.h) / steps}" width="${g.w}" height="${g.h / steps + 0.5}" fill="${hex(ramp(p, 1 - i / (steps - 1)))}"/>`);
      }
      out.push(`<text x="${g.x + g.w + 4}" y="${g.y}" font-size="${fs * 0.8}" dominant-baseline="hanging" fill="${muted}">${spec.domain[1].toFixed(2)}</text>`);
      out.push(`<text x="${g.x + g.w + 4}" y="${g.y + g.h}" font-size="${fs * 0.8}" fill="${muted}">${spec.domain[0].toFixed(2)}</text>`);
    }
    out.push('</svg>');
    return out.join('\n');
  }
}
