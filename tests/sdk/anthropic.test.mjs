// The official Anthropic Node SDK against `parallm mock`, with the SDK's
// default auth (current versions send Authorization: Bearer and a recent
// anthropic-version): messages, streaming, tool use, models, errors and
// the faults it must retry. Run by tests/sdk/run.sh.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';

const base = process.env.PARALLM_MOCK_URL;
assert.ok(base, 'PARALLM_MOCK_URL is not set (run through tests/sdk/run.sh)');

function client(opts = {}) {
  return new Anthropic({
    apiKey: 'sk-ant-fake-key',
    authToken: null,
    baseURL: base,
    timeout: 20000,
    ...opts,
  });
}

const model = 'claude-sonnet-4-5';
const tools = [{
  name: 'get_weather',
  description: 'weather for a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
}];

test('messages.create with default auth', async () => {
  const r = await client().messages.create({
    model, max_tokens: 64, system: 'be brief',
    messages: [{ role: 'user', content: 'hello claude' }],
  });
  assert.equal(r.type, 'message');
  assert.equal(r.content[0].type, 'text');
  assert.equal(r.content[0].text, 'mock reply: hello claude');
  assert.equal(r.stop_reason, 'end_turn');
  assert.ok(r.usage.input_tokens > 0 && r.usage.output_tokens > 0);
});

test('messages.stream(...).finalMessage()', async () => {
  const stream = client().messages.stream({
    model, max_tokens: 64,
    messages: [{ role: 'user', content: 'stream a fairly long reply please' }],
  });
  let text = '';
  stream.on('text', (t) => { text += t; });
  const m = await stream.finalMessage();
  assert.equal(m.content[0].text, 'mock reply: stream a fairly long reply please');
  assert.equal(text, m.content[0].text);
  assert.equal(m.stop_reason, 'end_turn');
});

test('tool use (tool_choice any)', async () => {
  const r = await client().messages.create({
    model, max_tokens: 64, tools, tool_choice: { type: 'any' },
    messages: [{ role: 'user', content: 'weather in Paris?' }],
  });
  assert.equal(r.stop_reason, 'tool_use');
  const block = r.content.find((b) => b.type === 'tool_use');
  assert.equal(block.name, 'get_weather');
  assert.equal(block.input.city, 'mock');
  assert.ok(block.id);
});

test('tool use by directive, streamed', async () => {
  const stream = client().messages.stream({
    model, max_tokens: 64, tools,
    messages: [{ role: 'user', content: 'weather? [mock tool_call]' }],
  });
  const m = await stream.finalMessage();
  assert.equal(m.stop_reason, 'tool_use');
  assert.equal(m.content[0].type, 'tool_use');
  assert.deepEqual(m.content[0].input, { city: 'mock' });
});

test('models.list', async () => {
  const ids = [];
  for await (const m of client().models.list()) {
    assert.equal(m.type, 'model');
    ids.push(m.id);
  }
  assert.ok(ids.includes('claude-sonnet-4-5'));
});

test('errors carry the provider shape and the request id', async () => {
  await assert.rejects(
    client().messages.create({ model, max_tokens: 64, messages: [{ role: 'user', content: 'x [mock status=400]' }] }),
    (err) => {
      assert.ok(err instanceof Anthropic.BadRequestError);
      assert.match(err.requestID, /^req_mock_/);
      assert.equal(err.error.type, 'error');
      assert.equal(err.error.error.type, 'invalid_request_error');
      return true;
    });
});

for (const [name, directive] of [
  ['529 (overloaded)', 'status=529 times=1'],
  ['429 with Retry-After', 'status=429 times=1 retry_after=0.1'],
  ['500', 'status=500 times=1'],
]) {
  test(`a ${name} once is retried`, async () => {
    const messages = (tag) => [{ role: 'user', content: `anthropic ${tag} [mock ${directive}]` }];
    await assert.rejects(
      client({ maxRetries: 0 }).messages.create({ model, max_tokens: 64, messages: messages(`no-retry ${name}`) }),
      (err) => {
        assert.equal(err.status, Number(directive.match(/status=(\d+)/)[1]));
        return true;
      });
    const r = await client({ maxRetries: 2 }).messages.create({
      model, max_tokens: 64, messages: messages(`retry ${name}`),
    });
    assert.match(r.content[0].text, /^mock reply: anthropic retry/);
  });
}
