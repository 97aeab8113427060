/** What every section of the panel gets from the app shell. */
import type { Post } from './exporting';
import type { Palette } from './theme';
import type { ViewStateStore } from './viewState';

export interface ViewContext {
  post: Post;
  palette(): Palette;
  state: ViewStateStore;
  /** A fresh id for a request/reply pair. */
  nextRequestId(): number;
}
