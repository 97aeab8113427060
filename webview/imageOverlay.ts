/**
 * One query's attention laid over the image the model saw: each patch tinted by the
 * attention the chosen query (the class token or a patch) gives it, against the largest
 * patch value, with the class token's share said in words since it has no place on the
 * image. A click on the image chooses that patch as the query.
 */
import { fitCanvas, readout } from './canvasFrame';
import { SelectControl } from './controls';
import { h } from './dom';
import type { ImageOverlay, Tensor } from '../protocol/messages';
import type { Palette } from './theme';
import { css, ramp } from './theme';

export interface OverlayData {
  image: ImageOverlay;
  /** [queries, keys] of the head shown. */
  map: Tensor<Float32Array>;
  queryTokens: string[];
  keyTokens: string[];
}

export class ImageOverlayView {
  readonly element: HTMLElement;
  private readonly query: SelectControl;
  private readonly canvas: HTMLCanvasElement;
  private readonly caption: HTMLElement;
  private data: OverlayData | null = null;
  private palette: Palette | null = null;
  private width = 0;
  /** The query row shown; kept while heads and layers change. */
  private row = 0;
  /** Image pixels to CSS pixels. */
  private scale = 1;

  constructor() {
    this.query = new SelectControl('Query', 'overlay-query', (v) => this.choose(Number(v)));
    this.canvas = h('canvas', { role: 'img', class: 'overlay-canvas', 'aria-label': 'Attention of the chosen query over the image' });
    this.canvas.addEventListener('click', (e) => this.pick(e.offsetX, e.offsetY));
    this.caption = readout();
    this.element = h(
      'figure',
      { class: 'image-overlay', hidden: true },
      h('h3', {}, 'On the image'),
      h('div', { class: 'controls' }, this.query.element),
      this.canvas,
      this.caption,
    );
  }

  set(data: OverlayData | null, palette: Palette, width: number): void {
    const changed = !data || !this.data || data.queryTokens.length !== this.data.queryTokens.length;
    this.data = data;
    this.palette = palette;
    this.width = width;
    this.element.hidden = data === null;
    if (!data) return;
    if (changed) this.row = 0;
    this.query.setChoices(
      data.queryTokens.map((t, i) => ({ value: String(i), label: t })),
      String(this.row),
    );
    this.render();
  }

  private choose(row: number): void {
    if (!this.data || !(row >= 0 && row < this.data.map.shape[0])) return;
    this.row = row;
    this.query.value = String(row);
    this.render();
  }

  /** A click on a patch makes it the query. */
  private pick(x: number, y: number): void {
    const d = this.data;
    if (!d) return;
    const { image } = d;
    const col = Math.floor(x / this.scale / (image.width / image.cols));
    const row = Math.floor(y / this.scale / (image.height / image.rows));
    if (col >= 0 && row >= 0 && col < image.cols && row < image.rows) this.choose(image.offset + row * image.cols + col);
  }

  private render(): void {
    const d = this.data;
    const p = this.palette;
    if (!d || !p) return;
    const { image, map } = d;
    const keys = map.shape[1];
    const side = Math.max(64, Math.min(this.width, 480));
    this.scale = side / Math.max(image.width, image.height);
    const [w, hh] = [image.width * this.scale, image.height * this.scale];
    const dpr = fitCanvas(this.canvas, w, hh);
    const ctx = this.canvas.getContext('2d')!;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const pixels = document.createElement('canvas');
    [pixels.width, pixels.height] = [image.width, image.height];
    const px = pixels.getContext('2d')!;
    const rgba = px.createImageData(image.width, image.height);
    for (let i = 0; i < image.width * image.height; i++) {
      rgba.data.set(image.rgb.subarray(i * 3, i * 3 + 3), i * 4);
      rgba.data[i * 4 + 3] = 255;
    }
    px.putImageData(rgba, 0, 0);
    ctx.imageSmoothingEnabled = this.scale < 4;
    ctx.drawImage(pixels, 0, 0, w, hh);
    const row = map.data.subarray(this.row * keys, (this.row + 1) * keys);
    const patches = row.subarray(image.offset, image.offset + image.rows * image.cols);
    let max = 0;
    let at = 0;
    patches.forEach((v, i) => {
      if (v > max) [max, at] = [v, i];
    });
    const [pw, ph] = [w / image.cols, hh / image.rows];
    for (let i = 0; i < patches.length; i++) {
      const t = max > 0 ? patches[i] / max : 0;
      ctx.fillStyle = css(ramp(p, t), 0.15 + 0.6 * t);
      ctx.fillRect((i % image.cols) * pw, Math.floor(i / image.cols) * ph, pw, ph);
    }
    if (this.row >= image.offset) {
      const q = this.row - image.offset;
      ctx.strokeStyle = css(p.foreground);
      ctx.lineWidth = 2;
      ctx.strokeRect((q % image.cols) * pw + 1, Math.floor(q / image.cols) * ph + 1, pw - 2, ph - 2);
    }
    let patchSum = 0;
    for (const v of patches) patchSum += v;
    const lead = Array.from({ length: image.offset }, (_, i) => `${d.keyTokens[i] ?? i} ${row[i].toFixed(3)}`).join(', ');
    this.caption.textContent =
      `Query ${d.queryTokens[this.row] ?? this.row}: ${lead ? `to ${lead}; ` : ''}to the ${image.rows}×${image.cols} patches ${patchSum.toFixed(3)}, ` +
      `most to ${d.keyTokens[image.offset + at] ?? at} (${max.toFixed(3)}). Click a patch to make it the query.`;
  }

  toPNG(): string {
    return this.data ? this.canvas.toDataURL('image/png') : '';
  }
}
