/**
 * A chart drawn as a list of shapes: the same list is painted on a canvas (the screen and the
 * PNG export) and written as SVG, so the two exports cannot disagree about what is where.
 * Coordinates are CSS pixels.
 */
import type { Palette, Rgb } from './theme';
import { css, font, hex } from './theme';

export interface RectShape {
  kind: 'rect';
  x: number;
  y: number;
  w: number;
  h: number;
  fill?: Rgb;
  stroke?: Rgb;
  /** Default 1. */
  lineWidth?: number;
  dash?: number[];
  /** The SVG element's tooltip; a function, because only an SVG export reads it. */
  title?: () => string;
}

export interface TextShape {
  kind: 'text';
  x: number;
  y: number;
  text: string;
  /** Font size as a multiple of the theme's. */
  scale: number;
  fill: Rgb;
  align: 'left' | 'center' | 'right';
  baseline: 'top' | 'middle' | 'bottom';
  /** Turned a quarter left about (x, y), as a vertical axis title is. */
  vertical?: boolean;
}

/** A straight line (the hatching of a cell drawn apart). */
export interface LineShape {
  kind: 'line';
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  stroke: Rgb;
  lineWidth?: number;
}

export type Shape = RectShape | TextShape | LineShape;

export function paintShapes(ctx: CanvasRenderingContext2D, shapes: readonly Shape[], p: Palette): void {
  for (const s of shapes) {
    if (s.kind === 'rect') {
      if (s.fill) {
        ctx.fillStyle = css(s.fill);
        ctx.fillRect(s.x, s.y, s.w, s.h);
      }
      if (s.stroke) {
        ctx.strokeStyle = css(s.stroke);
        ctx.lineWidth = s.lineWidth ?? 1;
        ctx.setLineDash(s.dash ?? []);
        ctx.strokeRect(s.x, s.y, s.w, s.h);
        ctx.setLineDash([]);
      }
      continue;
    }
    if (s.kind === 'line') {
      ctx.strokeStyle = css(s.stroke);
      ctx.lineWidth = s.lineWidth ?? 1;
      ctx.beginPath();
      ctx.moveTo(s.x1, s.y1);
      ctx.lineTo(s.x2, s.y2);
      ctx.stroke();
      continue;
    }
    ctx.font = font(p, s.scale);
    ctx.fillStyle = css(s.fill);
    ctx.textAlign = s.align;
    ctx.textBaseline = s.baseline;
    if (!s.vertical) {
      ctx.fillText(s.text, s.x, s.y);
      continue;
    }
    ctx.save();
    ctx.translate(s.x, s.y);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText(s.text, 0, 0);
    ctx.restore();
  }
}

const anchor = { left: 'start', center: 'middle', right: 'end' } as const;
const baseline = { top: 'hanging', middle: 'central', bottom: 'text-after-edge' } as const;
const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** The shapes as an SVG document of `width` × `height` CSS pixels. */
export function shapesToSvg(shapes: readonly Shape[], width: number, height: number, p: Palette): string {
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${esc(p.fontFamily)}">`,
  ];
  for (const s of shapes) {
    if (s.kind === 'rect') {
      const paint = [`fill="${s.fill ? hex(s.fill) : 'none'}"`];
      if (s.stroke) paint.push(`stroke="${hex(s.stroke)}"`, `stroke-width="${s.lineWidth ?? 1}"`);
      if (s.stroke && s.dash?.length) paint.push(`stroke-dasharray="${s.dash.join(' ')}"`);
      const rect = `<rect x="${s.x}" y="${s.y}" width="${s.w}" height="${s.h}" ${paint.join(' ')}`;
      out.push(s.title ? `${rect}><title>${esc(s.title())}</title></rect>` : `${rect}/>`);
      continue;
    }
    if (s.kind === 'line') {
      out.push(`<line x1="${s.x1}" y1="${s.y1}" x2="${s.x2}" y2="${s.y2}" stroke="${hex(s.stroke)}" stroke-width="${s.lineWidth ?? 1}"/>`);
      continue;
    }
    // The same rounding as the canvas font (theme.ts font()).
    const size = Math.round(p.fontSize * s.scale);
    const at = s.vertical ? `transform="translate(${s.x} ${s.y}) rotate(-90)"` : `x="${s.x}" y="${s.y}"`;
    out.push(
      `<text ${at} font-size="${size}" text-anchor="${anchor[s.align]}" dominant-baseline="${baseline[s.baseline]}" fill="${hex(s.fill)}">${esc(s.text)}</text>`,
    );
  }
  out.push('</svg>');
  return out.join('\n');
}
