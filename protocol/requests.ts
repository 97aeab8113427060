/**
 * Request and reply over postMessage (after vscode-hexeditor's MessageHandler): the webview
 * posts a request with a fresh `messageId` and gets a promise of its reply; the host answers
 * with `inReplyTo` set to that id. `Exchanges` in messages.ts ties the reply's type to the
 * request's, so neither side can answer a request with the wrong message. No DOM, no vscode:
 * both sides run this.
 */
import type { FromWebview, Reply, ReplyMessage, RequestFailedMessage, RequestMessage, RequestType, ToWebview } from './messages';

/** A request as a caller writes it: the client adds the `messageId`. */
export type RequestBody<T extends RequestType> = Omit<RequestMessage<T>, 'messageId'>;
/** A reply as the host writes it: `replyTo` adds the `inReplyTo`. */
export type ReplyBody<T extends RequestType> = Omit<Reply<T>, 'inReplyTo'>;

/** The webview's end. */
export class RequestClient {
  private lastId = 0;
  private readonly pending = new Map<number, (reply: ToWebview) => void>();

  constructor(private readonly post: (message: FromWebview) => void) {}

  /** Posts a request; the promise settles with its reply, or `requestFailed` if the host could not serve it. */
  request<T extends RequestType>(body: RequestBody<T>): Promise<ReplyMessage<T>> {
    const messageId = ++this.lastId;
    return new Promise((resolve) => {
      this.pending.set(messageId, resolve as (reply: ToWebview) => void);
      this.post({ ...body, messageId } as RequestMessage<T>);
    });
  }

  /** Hands a host message to the request it answers; false when it answers none (it is not a reply). */
  settle(message: ToWebview): boolean {
    if (!('inReplyTo' in message)) return false;
    const resolve = this.pending.get(message.inReplyTo);
    this.pending.delete(message.inReplyTo);
    resolve?.(message);
    // A reply to nothing pending (the page was reloaded meanwhile) is still a reply: nobody else wants it.
    return true;
  }
}

/** The host's reply to `request`. */
export function replyTo<T extends RequestType>(request: RequestMessage<T>, body: ReplyBody<T>): Reply<T> {
  return { ...body, inReplyTo: request.messageId } as Reply<T>;
}

/** The host's answer to a request it could not serve. */
export function failedReply(request: RequestMessage, message: string): RequestFailedMessage {
  return { type: 'requestFailed', inReplyTo: request.messageId, message };
}
