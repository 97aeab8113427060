/** Messages between the extension host and the panel webview (types only; both sides import it). */

/** The webview has loaded and can receive data. */
export interface ReadyMessage {
  type: 'ready';
}

/** Messages the webview posts to the host. */
export type FromWebview = ReadyMessage;
