/** What every section of the panel gets from the app shell. */
import type { ReplyMessage, RequestType } from '../protocol/messages';
import type { RequestBody } from '../protocol/requests';
import type { Post } from './exporting';
import type { PanelEvent } from './section';
import type { Palette } from './theme';
import type { ViewStateStore } from './viewState';

export interface ViewContext {
  post: Post;
  palette(): Palette;
  state: ViewStateStore;
  /** Posts a request; resolves with the host's reply. */
  request<T extends RequestType>(body: RequestBody<T>): Promise<ReplyMessage<T>>;
  /** Tells the other sections (e.g. "show this head's attention"). */
  raise(event: PanelEvent): void;
}
