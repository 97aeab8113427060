/**
 * Chart colours read from VS Code's theme variables, so that every chart follows light,
 * dark and high-contrast themes. Canvas drawing cannot use `var(--x)`, so the values are
 * read with getComputedStyle and re-read when the theme changes.
 */

export type Rgb = [number, number, number];

export interface Palette {
  background: Rgb;
  foreground: Rgb;
  muted: Rgb;
  border: Rgb;
  focus: Rgb;
  /** Set only in high-contrast themes, where cells get outlines. */
  contrastBorder: Rgb | null;
  /** Series colours for categorical data (charts.blue, .orange, …). */
  series: Rgb[];
  blue: Rgb;
  red: Rgb;
  fontFamily: string;
  fontSize: number;
  highContrast: boolean;
}

let probe: CanvasRenderingContext2D | null = null;

/** Parses any CSS colour the canvas understands; alpha is blended over `under`. */
export function parseColour(text: string, under: Rgb = [0, 0, 0]): Rgb | null {
  const t = text.trim();
  if (!t) return null;
  probe ??= document.createElement('canvas').getContext('2d');
  if (!probe) return null;
  probe.fillStyle = '#010203';
  probe.fillStyle = t;
  const v = String(probe.fillStyle);
  if (v === '#010203' && t.toLowerCase() !== '#010203') return null;
  if (v.startsWith('#')) return [1, 3, 5].map((i) => parseInt(v.slice(i, i + 2), 16)) as Rgb;
  const m = /rgba?\(([^)]+)\)/.exec(v);
  if (!m) return null;
  const [r, g, b, a = 1] = m[1].split(',').map(Number);
  return mix(under, [r, g, b], a);
}

export function mix(a: Rgb, b: Rgb, t: number): Rgb {
  return [0, 1, 2].map((i) => Math.round(a[i] + (b[i] - a[i]) * t)) as Rgb;
}

export function css(c: Rgb, alpha = 1): string {
  return alpha >= 1 ? `rgb(${c[0]}, ${c[1]}, ${c[2]})` : `rgba(${c[0]}, ${c[1]}, ${c[2]}, ${alpha})`;
}

export function hex(c: Rgb): string {
  return `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
}

/** Relative luminance (WCAG), to pick readable text over a cell. */
export function luminance(c: Rgb): number {
  const [r, g, b] = c.map((v) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

export function readPalette(): Palette {
  const style = getComputedStyle(document.documentElement);
  const bodyStyle = getComputedStyle(document.body);
  const get = (name: string) => style.getPropertyValue(name) || bodyStyle.getPropertyValue(name);
  const background = parseColour(get('--vscode-editor-background')) ?? parseColour(bodyStyle.backgroundColor) ?? [30, 30, 30];
  const read = (names: string[], fallback: Rgb): Rgb => {
    for (const n of names) {
      const c = parseColour(get(n), background);
      if (c) return c;
    }
    return fallback;
  };
  const foreground = read(
    ['--vscode-editor-foreground', '--vscode-foreground'],
    luminance(background) > 0.5 ? [30, 30, 30] : [220, 220, 220],
  );
  const body = document.body.classList;
  const highContrast = body.contains('vscode-high-contrast') || body.contains('vscode-high-contrast-light');
  const series = (
    [
      ['--vscode-charts-blue', [55, 148, 255]],
      ['--vscode-charts-orange', [209, 134, 22]],
      ['--vscode-charts-green', [137, 209, 133]],
      ['--vscode-charts-purple', [179, 128, 255]],
      ['--vscode-charts-red', [241, 76, 76]],
      ['--vscode-charts-yellow', [204, 167, 0]],
    ] as [string, Rgb][]
  ).map(([n, f]) => read([n], f));
  return {
    background,
    foreground,
    muted: read(['--vscode-descriptionForeground'], mix(background, foreground, 0.65)),
    border: read(['--vscode-panel-border', '--vscode-widget-border', '--vscode-editorWidget-border'], mix(background, foreground, 0.25)),
    focus: read(['--vscode-focusBorder'], series[0]),
    contrastBorder: highContrast ? read(['--vscode-contrastBorder'], foreground) : null,
    series,
    blue: series[0],
    red: series[4],
    fontFamily: get('--vscode-font-family').trim() || bodyStyle.fontFamily || 'sans-serif',
    fontSize: parseFloat(get('--vscode-font-size')) || 13,
    highContrast,
  };
}

/**
 * The colours of an exported chart (PNG, SVG): the same light palette whatever the theme, so
 * that a figure pasted into a paper or a slide reads the same, and "darker" always means
 * "higher". Only the font follows the panel, which the layout was measured with.
 */
export function exportPalette(p: Palette): Palette {
  const series: Rgb[] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [148, 103, 189],
    [214, 39, 40],
    [188, 189, 34],
  ];
  return {
    background: [255, 255, 255],
    foreground: [31, 31, 31],
    muted: [90, 90, 90],
    border: [200, 200, 200],
    focus: series[0],
    contrastBorder: null,
    series,
    blue: series[0],
    red: series[4],
    fontFamily: p.fontFamily,
    fontSize: p.fontSize,
    highContrast: false,
  };
}

/** The fill of a cell drawn apart from the colour scale (a layer against itself): close to the background. */
export function neutral(p: Palette): Rgb {
  return mix(p.background, p.foreground, 0.16);
}

/**
 * A sequential ramp for values in [0, 1]: from just off the background, through the
 * theme's blue, towards the foreground. It runs dark→light on dark themes and
 * light→dark on light ones, so "more" always means "more contrast with the page".
 */
export function ramp(p: Palette, t: number): Rgb {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0));
  const low = mix(p.background, p.foreground, p.highContrast ? 0.02 : 0.07);
  const high = mix(p.blue, p.foreground, 0.55);
  return x < 0.6 ? mix(low, p.blue, x / 0.6) : mix(p.blue, high, (x - 0.6) / 0.4);
}

/** Text colour that reads on top of `c`. */
export function textOn(p: Palette, c: Rgb): Rgb {
  const a = luminance(c);
  const dark = luminance(p.foreground) < luminance(p.background) ? p.foreground : p.background;
  const light = dark === p.foreground ? p.background : p.foreground;
  return a > 0.35 ? dark : light;
}

export function font(p: Palette, scale = 1, weight = ''): string {
  return `${weight ? `${weight} ` : ''}${Math.round(p.fontSize * scale)}px ${p.fontFamily}`;
}

/** Calls `onChange` when VS Code switches theme (it swaps the body class and the variables). */
export function watchTheme(onChange: () => void): void {
  let last = document.body.className;
  new MutationObserver(() => {
    if (document.body.className === last) return;
    last = document.body.className;
    onChange();
  }).observe(document.body, { attributes: true, attributeFilter: ['class'] });
}
