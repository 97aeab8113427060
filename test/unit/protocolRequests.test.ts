// Protects request and reply between the panel and the host (protocol/requests.ts): ids are fresh, a reply settles
// only the request it names, and a host failure reaches the caller as requestFailed.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { AttentionMapMessage, FromWebview, RequestMessage, ToWebview } from '../../protocol/messages';
import { RequestClient, failedReply, replyTo } from '../../protocol/requests';

const body = { type: 'requestAttentionMap', example: 0, stack: 'encoder', layer: 1, head: 0 } as const;
const map = (request: RequestMessage<'requestAttentionMap'>, head: number): AttentionMapMessage =>
  replyTo(request, {
    type: 'attentionMap',
    example: 0,
    stack: 'encoder',
    layer: 1,
    head,
    queryTokens: [],
    keyTokens: [],
    queryLabels: 'positions',
    keyLabels: 'positions',
    map: { shape: [0, 0], data: new Float32Array() },
    match: null,
  });

describe('RequestClient and replyTo', () => {
  it('posts each request with a fresh messageId and settles it with the reply that names it', async () => {
    const posted: FromWebview[] = [];
    const client = new RequestClient((m) => posted.push(m));
    const first = client.request(body);
    const second = client.request({ ...body, head: 1 });
    const [a, b] = posted as RequestMessage<'requestAttentionMap'>[];
    assert.notEqual(a.messageId, b.messageId, 'two requests share a messageId');
    assert.equal(client.settle(map(b, 1)), true);
    assert.equal(client.settle(failedReply(a, 'no model')), true);
    assert.deepEqual(await second, { ...map(b, 1) }, 'the second request got another reply');
    assert.deepEqual(await first, { type: 'requestFailed', inReplyTo: a.messageId, message: 'no model' });
  });

  it('leaves messages that are not replies to the caller', () => {
    const client = new RequestClient(() => undefined);
    const notReply: ToWebview = { type: 'focusLayerPair', stack: 'encoder', layer: 0, otherLayer: 1 };
    assert.equal(client.settle(notReply), false);
    assert.equal(
      client.settle(failedReply({ ...body, messageId: 99 }, 'stale')),
      true,
      'a reply to nothing pending is still a reply, not a message for the sections',
    );
  });
});
