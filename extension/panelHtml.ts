/**
 * The panel webview's HTML. No `vscode` import, so the browser tests load exactly this page.
 * The CSP is as tight as hexeditor's: nothing by default, the bundle only by nonce, styles,
 * images and fonts only from the webview's own resource origin, no eval.
 */
import { randomBytes } from 'node:crypto';

export interface PanelHtmlParts {
  /** `webview.cspSource` */
  cspSource: string;
  nonce: string;
  /** `dist/webview.js` as a webview URI. */
  scriptUri: string;
  /** `media/panel.css` as a webview URI. */
  styleUri: string;
  title: string;
}

export function makeNonce(): string {
  return randomBytes(18).toString('base64');
}

export function panelCsp(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `img-src ${cspSource}`,
    `style-src ${cspSource}`,
    `font-src ${cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
}

const escapeAttr = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function panelHtml(p: PanelHtmlParts): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttr(panelCsp(p.cspSource, p.nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${escapeAttr(p.styleUri)}">
<title>${escapeAttr(p.title)}</title>
</head>
<body>
<main id="app"></main>
<script nonce="${escapeAttr(p.nonce)}" src="${escapeAttr(p.scriptUri)}"></script>
</body>
</html>
`;
}
