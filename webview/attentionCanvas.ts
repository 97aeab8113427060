/**
 * One attention map (queries × keys) on a canvas, tokens on both axes. The cells go into
 * an ImageData at one pixel per cell and are scaled up in one drawImage, so a 512-token
 * map costs the same to draw as a small one and never creates a DOM node per cell. Token
 * strings are untrusted and only ever reach the canvas (fillText) or textContent.
 */
import { fitCanvas, publishGrid, readout } from './canvasFrame';
import type { GridGeometry } from './canvasFrame';
import { h } from './dom';
import { shortToken } from './format';
import type { Tensor } from '../protocol/messages';
import type { Palette } from './theme';
import { css, font, ramp } from './theme';

export interface AttentionData {
  title: string;
  queryTokens: string[];
  keyTokens: string[];
  map: Tensor<Float32Array>;
}

interface Layout extends GridGeometry {
  /** Label every step-th token, so labels never overlap. */
  step: number;
}

export class AttentionCanvas {
  readonly element: HTMLElement;
  private readonly title: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly readout: HTMLElement;
  private data: AttentionData | null = null;
  private palette: Palette | null = null;
  private layout: Layout | null = null;
  /** The drawn map without hover marks, at device resolution. */
  private base: HTMLCanvasElement | null = null;
  private max = 1;

  constructor(label: string) {
    this.title = h('h3');
    this.canvas = h('canvas', { role: 'img', 'aria-label': label, class: 'attention-canvas' });
    this.readout = readout();
    this.element = h('figure', { class: 'attention-figure', hidden: true }, this.title, this.canvas, this.readout);
    this.canvas.addEventListener('mousemove', (e) => this.hover(e.offsetX, e.offsetY));
    this.canvas.addEventListener('mouseleave', () => this.hover(-1, -1));
  }

  set(data: AttentionData | null, palette: Palette, width: number): void {
    this.data = data;
    this.palette = palette;
    this.element.hidden = data === null;
    if (!data) return;
    this.title.textContent = data.title;
    let max = 0;
    for (const v of data.map.data) if (v > max) max = v;
    this.max = max > 0 ? max : 1;
    this.render(width);
  }

  setPalette(palette: Palette, width: number): void {
    this.palette = palette;
    if (this.data) this.render(width);
  }

  private render(width: number): void {
    const data = this.data!;
    const p = this.palette!;
    const [q, k] = data.map.shape;
    const probe = this.canvas.getContext('2d')!;
    probe.font = font(p, 0.75);
    let labelW = 0;
    for (const t of data.queryTokens) labelW = Math.max(labelW, probe.measureText(shortToken(t)).width);
    let keyW = 0;
    for (const t of data.keyTokens) keyW = Math.max(keyW, probe.measureText(shortToken(t)).width);
    const lineH = p.fontSize * 0.75 + 3;
    const left = Math.ceil(labelW + 8);
    const cell = Math.min(22, Math.max(0.25, (width - left - 8) / Math.max(k, 1)));
    // Label every `step`-th token so that labels never overlap on long sequences.
    const step = Math.max(1, Math.ceil(lineH / cell));
    const top = 4;
    const plotW = cell * k;
    const plotH = cell * q;
    const layout: Layout = { width: Math.ceil(left + plotW + 8), height: Math.ceil(top + plotH + keyW + 10), left, top, cell, step };
    this.layout = layout;

    // One pixel per cell, coloured from the theme's ramp against this map's own maximum.
    const pixels = document.createElement('canvas');
    pixels.width = k;
    pixels.height = q;
    const pctx = pixels.getContext('2d')!;
    const image = pctx.createImageData(k, q);
    const lut = Array.from({ length: 256 }, (_, i) => ramp(p, i / 255));
    const m = data.map.data;
    for (let i = 0; i < q * k; i++) {
      const c = lut[Math.min(255, Math.max(0, Math.round((m[i] / this.max) * 255)))];
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
    this.base = base;
    fitCanvas(this.canvas, layout.width, layout.height);
    publishGrid(this.canvas, layout, q, k);
    this.hover(-1, -1);
  }

  private hover(x: number, y: number): void {
    const l = this.layout;
    const data = this.data;
    if (!l || !data || !this.base || !this.palette) return;
    const ctx = this.canvas.getContext('2d')!;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(this.base, 0, 0);
    const [q, k] = data.map.shape;
    const i = Math.floor((y - l.top) / l.cell);
    const j = Math.floor((x - l.left) / l.cell);
    if (i < 0 || j < 0 || i >= q || j >= k) {
      this.readout.textContent = `${q} queries × ${k} keys; largest value ${this.max.toFixed(3)}. Hover a cell for its value.`;
      return;
    }
    const dpr = window.devicePixelRatio || 1;
    ctx.scale(dpr, dpr);
    ctx.strokeStyle = css(this.palette.foreground, 0.6);
    ctx.lineWidth = 1;
    ctx.strokeRect(l.left, l.top + i * l.cell, k * l.cell, Math.max(1, l.cell));
    ctx.strokeRect(l.left + j * l.cell, l.top, Math.max(1, l.cell), q * l.cell);
    const v = data.map.data[i * k + j];
    this.readout.textContent = `query ${i} “${data.queryTokens[i] ?? i}” → key ${j} “${data.keyTokens[j] ?? j}”: ${v.toFixed(4)}`;
  }

  toPNG(): string {
    return this.base?.toDataURL('image/png') ?? '';
  }

  /** Rows are queries, columns keys, with the token strings as headers. */
  csvRows(): (string | number)[][] {
    const data = this.data;
    if (!data) return [];
    const [q, k] = data.map.shape;
    const rows: (string | number)[][] = [['query \\ key', ...data.keyTokens.slice(0, k)]];
    for (let i = 0; i < q; i++) rows.push([data.queryTokens[i] ?? String(i), ...Array.from(data.map.data.subarray(i * k, (i + 1) * k))]);
    return rows;
  }
}
