/**
 * One attention map (queries × keys) on a canvas, tokens on both axes and a colour legend
 * under it. The cells go into an ImageData at one pixel per cell and are scaled up in one
 * drawImage, so a 512-token map costs the same to draw as a small one and never creates a DOM
 * node per cell. The colour scale is given (the viewer shares one between the maps it
 * compares), and the legend drawn with it goes into the PNG too. The canvas takes focus: the
 * arrow keys walk the cells and the read-out says query token, key token and probability.
 * Token strings are untrusted and only ever reach the canvas (fillText) or textContent.
 */
import { fitCanvas, publishGrid, readout } from './canvasFrame';
import type { GridGeometry } from './canvasFrame';
import { h } from './dom';
import { shortToken } from './format';
import type { TokenLabels, Tensor } from '../protocol/messages';
import type { Palette } from './theme';
import { css, exportPalette, font, ramp } from './theme';

export interface AttentionData {
  title: string;
  queryTokens: string[];
  keyTokens: string[];
  queryLabels: TokenLabels;
  keyLabels: TokenLabels;
  map: Tensor<Float32Array>;
}

/** How the map is drawn: cell size ('fit': as wide as `width` allows), and the probability the ramp's top colour stands for. */
export interface AttentionDrawing {
  width: number;
  zoom: number | 'fit';
  scaleMax: number;
  /** Says where the scale comes from, under the legend ("shared with the best match"). */
  scaleNote: string;
}

interface Layout extends GridGeometry {
  /** Label every step-th token, so labels never overlap. */
  step: number;
  /** Top of the colour legend. */
  legendTop: number;
}

type Cell = [number, number];

const legendHeight = 34;

/** A token for the read-out: its text in quotes, its id, or nothing when only its position is known. */
export function tokenWords(tokens: string[], kind: TokenLabels, i: number): string {
  const t = tokens[i];
  if (t === undefined || kind === 'positions') return '';
  return kind === 'ids' ? ` (token id ${t})` : ` “${t}”`;
}

export class AttentionCanvas {
  readonly element: HTMLElement;
  private readonly title: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly scroller: HTMLElement;
  private readonly readout: HTMLElement;
  private data: AttentionData | null = null;
  private palette: Palette | null = null;
  private drawing: AttentionDrawing | null = null;
  private layout: Layout | null = null;
  /** The drawn map without hover marks, at device resolution. */
  private base: HTMLCanvasElement | null = null;
  private hovered: Cell | null = null;
  /** The keyboard's cell. */
  private cursor: Cell | null = null;

  constructor(private readonly label: string) {
    this.title = h('h3');
    this.canvas = h('canvas', { role: 'img', tabindex: 0, 'aria-label': label, class: 'attention-canvas' });
    this.scroller = h('div', { class: 'attention-scroll' }, this.canvas);
    this.readout = readout();
    this.element = h('figure', { class: 'attention-figure', hidden: true }, this.title, this.scroller, this.readout);
    this.canvas.addEventListener('mousemove', (e) => this.setHover(this.cellAt(e.offsetX, e.offsetY)));
    this.canvas.addEventListener('mouseleave', () => this.setHover(null));
    this.canvas.addEventListener('keydown', (e) => this.onKey(e));
    this.canvas.addEventListener('focus', () => this.paint());
    this.canvas.addEventListener('blur', () => this.paint());
  }

  set(data: AttentionData | null, palette: Palette, drawing: AttentionDrawing): void {
    if (data !== this.data) this.cursor = null;
    this.data = data;
    this.palette = palette;
    this.drawing = drawing;
    this.element.hidden = data === null;
    if (!data) return;
    this.title.textContent = data.title;
    this.canvas.setAttribute('aria-label', `${this.label}: ${data.title}. Arrow keys move between cells; the line below reads each out.`);
    this.render();
  }

  /** The side of a cell as drawn, in CSS pixels. */
  get cellSize(): number {
    return this.layout?.cell ?? 0;
  }

  /** The largest value of the map (for a scale shared with another). */
  get maxValue(): number {
    let max = 0;
    for (const v of this.data?.map.data ?? []) if (v > max) max = v;
    return max;
  }

  private render(): void {
    const data = this.data!;
    const { base, layout } = this.drawBase(this.palette!);
    this.layout = layout;
    this.base = base;
    fitCanvas(this.canvas, layout.width, layout.height);
    publishGrid(this.canvas, layout, data.map.shape[0], data.map.shape[1]);
    this.canvas.dataset.scaleMax = String(this.drawing!.scaleMax);
    this.paint();
  }

  /** The map, its labels and legend in palette `p`: the screen's, or the export palette for a PNG. */
  private drawBase(p: Palette): { base: HTMLCanvasElement; layout: Layout } {
    const data = this.data!;
    const d = this.drawing!;
    const [q, k] = data.map.shape;
    const probe = this.canvas.getContext('2d')!;
    probe.font = font(p, 0.75);
    let labelW = 0;
    for (const t of data.queryTokens) labelW = Math.max(labelW, probe.measureText(shortToken(t)).width);
    let keyW = 0;
    for (const t of data.keyTokens) keyW = Math.max(keyW, probe.measureText(shortToken(t)).width);
    const lineH = p.fontSize * 0.75 + 3;
    const left = Math.ceil(labelW + 8);
    const fit = Math.min(22, Math.max(0.25, (d.width - left - 8) / Math.max(k, 1)));
    const cell = d.zoom === 'fit' ? fit : d.zoom;
    // Label every `step`-th token so that labels never overlap on long sequences.
    const step = Math.max(1, Math.ceil(lineH / cell));
    const top = 4;
    const plotW = cell * k;
    const plotH = cell * q;
    const legendTop = Math.ceil(top + plotH + keyW + 12);
    const width = Math.ceil(Math.max(left + plotW + 8, left + 220));
    const layout: Layout = { width, height: legendTop + legendHeight, left, top, cell, step, legendTop };

    // One pixel per cell, coloured from the theme's ramp against the scale given.
    const pixels = document.createElement('canvas');
    pixels.width = k;
    pixels.height = q;
    const pctx = pixels.getContext('2d')!;
    const image = pctx.createImageData(k, q);
    const lut = Array.from({ length: 256 }, (_, i) => ramp(p, i / 255));
    const m = data.map.data;
    const top255 = 255 / (d.scaleMax > 0 ? d.scaleMax : 1);
    for (let i = 0; i < q * k; i++) {
      const c = lut[Math.min(255, Math.max(0, Math.round(m[i] * top255)))];
      image.data[i * 4] = c[0];
      image.data[i * 4 + 1] = c[1];
      image.data[i * 4 + 2] = c[2];
      image.data[i * 4 + 3] = 255;
    }
    pctx.putImageData(image, 0, 0);

    const base = document.createElement('canvas');
    const dpr = fitCanvas(base, layout.width, layout.height);
    const ctx = base.getContext('2d')!;
    ctx.scale(dpr, dpr);
    ctx.fillStyle = css(p.background);
    ctx.fillRect(0, 0, layout.width, layout.height);
    // Crisp cells when they are bigger than a pixel; averaged ones when many share a pixel.
    ctx.imageSmoothingEnabled = cell < 1;
    ctx.drawImage(pixels, left, top, plotW, plotH);
    ctx.fillStyle = css(p.muted);
    ctx.font = font(p, 0.75);
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (let i = 0; i < q; i += step) ctx.fillText(shortToken(data.queryTokens[i] ?? String(i)), left - 4, top + (i + 0.5) * cell);
    for (let j = 0; j < k; j += step) {
      ctx.save();
      ctx.translate(left + (j + 0.5) * cell, top + plotH + 4);
      ctx.rotate(-Math.PI / 2);
      ctx.fillText(shortToken(data.keyTokens[j] ?? String(j)), 0, 0);
      ctx.restore();
    }
    this.drawLegend(ctx, lut, layout, p);
    return { base, layout };
  }

  /** A bar from 0 to the scale's top, with its ends and middle labelled and where the scale comes from. */
  private drawLegend(ctx: CanvasRenderingContext2D, lut: [number, number, number][], l: Layout, p: Palette): void {
    const d = this.drawing!;
    const barW = Math.min(200, l.width - l.left - 8);
    const y = l.legendTop;
    for (let x = 0; x < barW; x++) {
      ctx.fillStyle = css(lut[Math.round((x / Math.max(1, barW - 1)) * 255)]);
      ctx.fillRect(l.left + x, y, 1, 8);
    }
    ctx.strokeStyle = css(p.border);
    ctx.strokeRect(l.left + 0.5, y + 0.5, barW - 1, 7);
    ctx.fillStyle = css(p.muted);
    ctx.font = font(p, 0.75);
    ctx.textBaseline = 'top';
    const ticks: [number, CanvasTextAlign][] = [
      [0, 'left'],
      [0.5, 'center'],
      [1, 'right'],
    ];
    for (const [t, align] of ticks) {
      ctx.textAlign = align;
      ctx.fillText((d.scaleMax * t).toFixed(3), l.left + t * barW, y + 10);
    }
    ctx.textAlign = 'left';
    ctx.fillText(`attention probability${d.scaleNote ? ` (${d.scaleNote})` : ''}`, l.left, y + 22);
  }

  /** The map, then the marks: the hovered cell's row and column, the keyboard's cell when the map has focus. */
  private paint(): void {
    const l = this.layout;
    const data = this.data;
    const p = this.palette;
    if (!l || !data || !this.base || !p) return;
    const ctx = this.canvas.getContext('2d')!;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(this.base, 0, 0);
    const dpr = window.devicePixelRatio || 1;
    ctx.scale(dpr, dpr);
    const [q, k] = data.map.shape;
    const focused = document.activeElement === this.canvas;
    const cell = this.hovered ?? (focused ? this.cursor : null);
    if (this.hovered) {
      const [i, j] = this.hovered;
      ctx.strokeStyle = css(p.foreground, 0.6);
      ctx.lineWidth = 1;
      ctx.strokeRect(l.left, l.top + i * l.cell, k * l.cell, Math.max(1, l.cell));
      ctx.strokeRect(l.left + j * l.cell, l.top, Math.max(1, l.cell), q * l.cell);
    }
    if (focused && this.cursor) {
      const [i, j] = this.cursor;
      const side = Math.max(4, l.cell);
      ctx.strokeStyle = css(p.focus);
      ctx.lineWidth = 2;
      ctx.strokeRect(l.left + (j + 0.5) * l.cell - side / 2 - 1, l.top + (i + 0.5) * l.cell - side / 2 - 1, side + 2, side + 2);
    }
    this.readout.textContent = cell
      ? this.describe(cell)
      : `${q} queries × ${k} keys; largest value ${this.maxValue.toFixed(3)}. Hover a cell, or focus the map and use the arrow keys.`;
  }

  describe([i, j]: Cell): string {
    const d = this.data!;
    const v = d.map.data[i * d.map.shape[1] + j];
    return `query ${i}${tokenWords(d.queryTokens, d.queryLabels, i)} → key ${j}${tokenWords(d.keyTokens, d.keyLabels, j)}: probability ${v.toFixed(4)}`;
  }

  private setHover(cell: Cell | null): void {
    this.hovered = cell;
    this.paint();
  }

  private cellAt(x: number, y: number): Cell | null {
    const l = this.layout;
    if (!l || !this.data) return null;
    const [q, k] = this.data.map.shape;
    const i = Math.floor((y - l.top) / l.cell);
    const j = Math.floor((x - l.left) / l.cell);
    return i >= 0 && j >= 0 && i < q && j < k ? [i, j] : null;
  }

  private onKey(e: KeyboardEvent): void {
    if (!this.data) return;
    const [q, k] = this.data.map.shape;
    const [i, j] = this.cursor ?? [0, 0];
    const page = 10;
    const moves: Record<string, Cell> = {
      ArrowUp: [i - 1, j],
      ArrowDown: [i + 1, j],
      ArrowLeft: [i, j - 1],
      ArrowRight: [i, j + 1],
      PageUp: [i - page, j],
      PageDown: [i + page, j],
      Home: [i, 0],
      End: [i, k - 1],
    };
    const to = moves[e.key];
    if (!to) return;
    e.preventDefault();
    this.cursor = this.cursor ? [Math.min(q - 1, Math.max(0, to[0])), Math.min(k - 1, Math.max(0, to[1]))] : [0, 0];
    this.hovered = null;
    this.reveal(this.cursor);
    this.paint();
  }

  /** Scrolls a zoomed map so that the keyboard's cell is in view. */
  private reveal([i, j]: Cell): void {
    const l = this.layout!;
    const x = l.left + j * l.cell;
    const y = l.top + i * l.cell;
    const s = this.scroller;
    if (x < s.scrollLeft + l.left || x + l.cell > s.scrollLeft + s.clientWidth) s.scrollLeft = Math.max(0, x - s.clientWidth / 2);
    if (y < s.scrollTop || y + l.cell > s.scrollTop + s.clientHeight) s.scrollTop = Math.max(0, y - s.clientHeight / 2);
  }

  /** The map as a PNG in the theme-independent export palette (theme.ts exportPalette). */
  toPNG(): string {
    if (!this.data || !this.palette || !this.drawing || !this.base) return '';
    return this.drawBase(exportPalette(this.palette)).base.toDataURL('image/png');
  }

  /** Rows are queries, columns keys, with the token labels as headers. */
  csvRows(): (string | number)[][] {
    const data = this.data;
    if (!data) return [];
    const [q, k] = data.map.shape;
    const rows: (string | number)[][] = [['query \\ key', ...data.keyTokens.slice(0, k)]];
    for (let i = 0; i < q; i++) rows.push([data.queryTokens[i] ?? String(i), ...Array.from(data.map.data.subarray(i * k, (i + 1) * k))]);
    return rows;
  }
}
