/**
 * A heatmap of labelled cells on one canvas: the layer-pair matrix, head-pair blocks, the
 * sequential ranks and the reuse head map. Drawn by hand rather than with chart.js so that
 * cells can carry text, the keyboard can walk the cells, and the screen, the PNG and the SVG
 * are one list of shapes (shapes.ts). The hover and keyboard readout is a DOM line, so values
 * are also available to screen readers.
 */
import { fitCanvas, publishGrid, readout } from './canvasFrame';
import type { GridGeometry } from './canvasFrame';
import { h } from './dom';
import type { Exporters } from './exporting';
import { paintShapes, shapesToSvg } from './shapes';
import type { Shape } from './shapes';
import type { Palette, Rgb } from './theme';
import { exportPalette, font, mix, neutral, ramp, textOn } from './theme';

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
  /** Cells drawn apart from the colour scale, neutral and hatched (a layer or head against itself, always 1). */
  apart?(r: number, c: number): boolean;
  /** Cells whose similarity is at or below their uniform baseline: marked in a corner. */
  belowBaseline?(r: number, c: number): boolean;
  /** A categorical colour that replaces the ramp. */
  fill?(r: number, c: number, p: Palette): Rgb | null;
  /** Text drawn in the cell when it fits. */
  text?(r: number, c: number): string | null;
  /** The readout line for a cell. */
  describe(r: number, c: number): string;
  /** Cells marked with a corner flag (sink heads), in the screen, the PNG and the SVG alike. */
  flag?(r: number, c: number): boolean;
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

interface Layout extends GridGeometry {
  /** Label every colStep-th column and rowStep-th row, so labels never overlap. */
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
  /** What the last draw showed, without the hover and selection marks: what the exports write. */
  private drawn: Shape[] = [];
  private hover: Cell | null = null;
  private cursor: Cell | null = null;
  private selected: Cell | null = null;
  private lastWidth = 0;

  constructor(private readonly options: GridOptions) {
    this.canvas = h('canvas', { tabindex: 0, role: 'img', 'aria-label': options.label, class: 'grid-canvas' });
    this.readout = readout(options.hint ?? '');
    this.element = h('div', { class: 'grid-chart' }, this.canvas, this.readout);
    this.canvas.addEventListener('mousemove', (e) => this.setHover(this.cellAt(e.offsetX, e.offsetY)));
    this.canvas.addEventListener('mouseleave', () => this.setHover(null));
    this.canvas.addEventListener('click', (e) => {
      const cell = this.cellAt(e.offsetX, e.offsetY);
      if (cell) this.choose(cell);
    });
    this.canvas.addEventListener('keydown', (e) => this.onKey(e));
    // Focus from the keyboard puts the cursor on a cell at once, so the focus is visible and the readout speaks.
    this.canvas.addEventListener('focus', () => {
      if (!this.spec || !this.canvas.matches(':focus-visible')) return;
      this.cursor = this.selected ?? [0, 0];
      this.draw();
    });
    this.canvas.addEventListener('blur', () => {
      this.cursor = null;
      this.draw();
    });
    // Relayout when the view is resized (the sidebar is often dragged narrower). The drawing
    // waits for the next frame: resizing the canvas inside the observer's callback would
    // trigger it again in the same frame ("ResizeObserver loop completed with undelivered notifications").
    let pending = 0;
    new ResizeObserver(() => {
      if (pending || this.element.clientWidth === this.lastWidth) return;
      pending = requestAnimationFrame(() => {
        pending = 0;
        if (this.element.clientWidth !== this.lastWidth) this.draw();
      });
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
    // The colour bar, its gap and its widest label, so that the labels are never cut off.
    ctx.font = font(p, 0.8);
    const labelWidth = legend ? Math.max(...spec.domain!.map((v) => ctx.measureText(v.toFixed(2)).width)) : 0;
    const right = legend ? Math.ceil(14 + 12 + 4 + labelWidth + 6) : 8;
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
    if (!spec || !p) {
      this.drawn = [];
      return;
    }
    const pad = getComputedStyle(this.element);
    const inner = this.element.clientWidth - parseFloat(pad.paddingLeft || '0') - parseFloat(pad.paddingRight || '0');
    const width = Math.max(160, inner || 320);
    this.lastWidth = this.element.clientWidth;
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    const l = this.computeLayout(ctx, width);
    this.layout = l;
    const dpr = fitCanvas(this.canvas, l.width, l.height);
    publishGrid(this.canvas, l, spec.rows, spec.cols);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const measure = (text: string, scale: number) => {
      ctx.font = font(p, scale);
      return ctx.measureText(text).width;
    };
    this.drawn = this.shapes(l, measure);
    paintShapes(ctx, [...this.drawn, ...this.marks(l)], p);
    const focus = this.hover ?? this.cursor ?? this.selected;
    this.readout.textContent = focus ? spec.describe(focus[0], focus[1]) : (this.options.hint ?? '');
  }

  private cellColour(r: number, c: number): Rgb | null {
    const spec = this.spec!;
    const p = this.palette!;
    const fill = spec.fill?.(r, c, p);
    if (fill) return fill;
    if (spec.apart?.(r, c)) return neutral(p);
    const v = spec.value(r, c);
    if (Number.isNaN(v)) return null;
    const [lo, hi] = spec.domain ?? [0, 1];
    return ramp(p, hi > lo ? (v - lo) / (hi - lo) : 1);
  }

  /** The chart: background, cells with their text, axes and legend. */
  private shapes(l: Layout, measure: (text: string, scale: number) => number): Shape[] {
    const spec = this.spec!;
    const p = this.palette!;
    const out: Shape[] = [{ kind: 'rect', x: 0, y: 0, w: l.width, h: l.height, fill: p.background }];
    // Categorical cells (a head map) get a hairline gap, or runs of equal cells merge into blocks.
    const gap = spec.fill && l.cell >= 6 ? 1 : 0;
    const fits = l.cell >= p.fontSize + 4;
    for (let r = 0; r < spec.rows; r++) {
      for (let c = 0; c < spec.cols; c++) {
        const colour = this.cellColour(r, c);
        if (!colour) continue;
        const x = l.left + c * l.cell;
        const y = l.top + r * l.cell;
        out.push({
          kind: 'rect',
          x: x + gap / 2,
          y: y + gap / 2,
          w: l.cell - gap,
          h: l.cell - gap,
          fill: colour,
          title: () => spec.describe(r, c),
        });
        // High-contrast themes outline every cell; the half pixel keeps a 1px line crisp.
        if (p.contrastBorder && l.cell >= 6)
          out.push({ kind: 'rect', x: x + 0.5, y: y + 0.5, w: l.cell - 1, h: l.cell - 1, stroke: p.contrastBorder });
        if (spec.apart?.(r, c) && l.cell >= 6) out.push(...hatch(x, y, l.cell, mix(p.background, p.foreground, 0.45)));
        if (spec.belowBaseline?.(r, c) && l.cell >= 8) {
          const m = Math.max(3, Math.round(l.cell * 0.2));
          out.push({ kind: 'rect', x: x + l.cell - m - 1, y: y + l.cell - m - 1, w: m, h: m, fill: textOn(p, colour) });
        }
        if (spec.flag?.(r, c) && l.cell >= 6) {
          const f = Math.max(3, Math.round(l.cell / 4));
          out.push({
            kind: 'rect',
            x: x + l.cell - f - gap / 2,
            y: y + gap / 2,
            w: f,
            h: f,
            fill: textOn(p, colour),
            title: () => `${spec.describe(r, c)} (flagged)`,
          });
        }
        const text = fits ? spec.text?.(r, c) : null;
        if (text && measure(text, 0.8) <= l.cell - 4) {
          out.push({
            kind: 'text',
            x: x + l.cell / 2,
            y: y + l.cell / 2 + 0.5,
            text,
            scale: 0.8,
            fill: textOn(p, colour),
            align: 'center',
            baseline: 'middle',
          });
        }
      }
    }
    out.push(...this.axes(l));
    if (l.legend) out.push(...this.legend(l));
    return out;
  }

  private axes(l: Layout): Shape[] {
    const spec = this.spec!;
    const p = this.palette!;
    const line = p.fontSize + 4;
    const gridBottom = l.top + spec.rows * l.cell;
    const out: Shape[] = [];
    for (let r = 0; r < spec.rows; r += l.rowStep) {
      out.push({
        kind: 'text',
        x: l.left - 4,
        y: l.top + (r + 0.5) * l.cell,
        text: spec.rowLabel(r),
        scale: 0.85,
        fill: p.muted,
        align: 'right',
        baseline: 'middle',
      });
    }
    for (let c = 0; c < spec.cols; c += l.colStep) {
      out.push({
        kind: 'text',
        x: l.left + (c + 0.5) * l.cell,
        y: gridBottom + 3,
        text: spec.colLabel(c),
        scale: 0.85,
        fill: p.muted,
        align: 'center',
        baseline: 'top',
      });
    }
    const title = { kind: 'text', scale: 0.9, fill: p.foreground, align: 'center' } as const;
    out.push({ ...title, x: l.left + (spec.cols * l.cell) / 2, y: gridBottom + line + 2, text: spec.colTitle, baseline: 'top' });
    out.push({ ...title, x: line / 2 + 1, y: l.top + (spec.rows * l.cell) / 2, text: spec.rowTitle, baseline: 'middle', vertical: true });
    return out;
  }

  private legend(l: Layout): Shape[] {
    const spec = this.spec!;
    const p = this.palette!;
    const [lo, hi] = spec.domain!;
    const g = { x: l.left + spec.cols * l.cell + 14, y: l.top, w: 12, h: Math.max(60, spec.rows * l.cell) };
    const steps = 32;
    const out: Shape[] = [];
    for (let i = 0; i < steps; i++)
      out.push({ kind: 'rect', x: g.x, y: g.y + (i * g.h) / steps, w: g.w, h: g.h / steps + 0.5, fill: ramp(p, 1 - i / (steps - 1)) });
    out.push({ kind: 'rect', x: g.x + 0.5, y: g.y + 0.5, w: g.w - 1, h: g.h - 1, stroke: p.border });
    const label = { kind: 'text', x: g.x + g.w + 4, scale: 0.8, fill: p.muted, align: 'left' } as const;
    out.push(
      { ...label, y: g.y, text: hi.toFixed(2), baseline: 'top' },
      { ...label, y: g.y + g.h, text: lo.toFixed(2), baseline: 'bottom' },
    );
    return out;
  }

  /** The selected, hovered and keyboard-cursor cells, drawn on screen only. */
  private marks(l: Layout): Shape[] {
    const p = this.palette!;
    const outline = (cell: Cell | null, stroke: Rgb, lineWidth: number, dash: number[]): Shape[] =>
      cell
        ? [
            {
              kind: 'rect',
              x: l.left + cell[1] * l.cell + lineWidth / 2,
              y: l.top + cell[0] * l.cell + lineWidth / 2,
              w: l.cell - lineWidth,
              h: l.cell - lineWidth,
              stroke,
              lineWidth,
              dash,
            },
          ]
        : [];
    // The keyboard cursor: a thick focus-coloured ring with a background-coloured ring inside,
    // so that it shows on every cell colour.
    const inset = (cell: Cell, by: number, stroke: Rgb): Shape[] => [
      {
        kind: 'rect',
        x: l.left + cell[1] * l.cell + by + 0.5,
        y: l.top + cell[0] * l.cell + by + 0.5,
        w: l.cell - 2 * by - 1,
        h: l.cell - 2 * by - 1,
        stroke,
      },
    ];
    const cursor = this.cursor ? [...outline(this.cursor, p.focus, 3, []), ...inset(this.cursor, 3, p.background)] : [];
    return [...outline(this.selected, p.focus, 2, []), ...outline(this.hover, p.foreground, 1, []), ...cursor];
  }

  /** The chart as a PNG data URL at twice the CSS size, in the export palette, without hover marks. */
  toPNG(): string {
    const drawing = this.exportDrawing();
    if (!drawing) return '';
    const out = document.createElement('canvas');
    out.width = drawing.layout.width * 2;
    out.height = drawing.layout.height * 2;
    const ctx = out.getContext('2d')!;
    ctx.scale(2, 2);
    paintShapes(ctx, drawing.shapes, drawing.palette);
    return out.toDataURL('image/png');
  }

  /** The drawing again in the theme-independent export palette (theme.ts exportPalette), at the screen's layout. */
  private exportDrawing(): { shapes: Shape[]; layout: Layout; palette: Palette } | null {
    const screen = this.palette;
    const layout = this.layout;
    if (!screen || !layout || this.drawn.length === 0) return null;
    const palette = exportPalette(screen);
    const ctx = document.createElement('canvas').getContext('2d')!;
    const measure = (text: string, scale: number) => {
      ctx.font = font(palette, scale);
      return ctx.measureText(text).width;
    };
    this.palette = palette;
    try {
      return { shapes: this.shapes(layout, measure), layout, palette };
    } finally {
      this.palette = screen;
    }
  }

  /** What the chart's export bar offers: PNG and SVG of this drawing, and the caller's CSV of its values. */
  exporters(csv: () => string): Exporters {
    return { png: () => this.toPNG(), csv, svg: () => this.toSVG() };
  }

  /** The same drawing as SVG. */
  toSVG(): string {
    const drawing = this.exportDrawing();
    if (!drawing) return '';
    return shapesToSvg(drawing.shapes, drawing.layout.width, drawing.layout.height, drawing.palette);
  }
}

/** Three hatch lines across a cell of side `s` at (x, y), bottom-left to top-right. */
function hatch(x: number, y: number, s: number, stroke: Rgb): Shape[] {
  return [
    { kind: 'line', x1: x, y1: y + s / 2, x2: x + s / 2, y2: y, stroke },
    { kind: 'line', x1: x, y1: y + s, x2: x + s, y2: y, stroke },
    { kind: 'line', x1: x + s / 2, y1: y + s, x2: x + s, y2: y + s / 2, stroke },
  ];
}
