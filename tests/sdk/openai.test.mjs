// The official OpenAI Node SDK against `parallm mock`: the everyday calls
// with the SDK's default options, streaming helpers, tool calls, errors
// and the faults the SDK must retry. Run by tests/sdk/run.sh, which sets
// PARALLM_MOCK_URL.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI from 'openai';

const base = process.env.PARALLM_MOCK_URL;
assert.ok(base, 'PARALLM_MOCK_URL is not set (run through tests/sdk/run.sh)');

function client(opts = {}) {
  return new OpenAI({
    apiKey: 'sk-fake-key',
    baseURL: `${base}/v1`,
    organization: null,
    project: null,
    timeout: 20000,
    ...opts,
  });
}

const model = 'gpt-4o-mini';
const weather = [{
  type: 'function',
  function: {
    name: 'get_weather',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, days: { type: 'integer' } },
      required: ['city'],
    },
  },
}];

test('chat completion', async () => {
  const r = await client().chat.completions.create({
    model, messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello' }],
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.content, 'mock reply: hello');
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.ok(r.usage.total_tokens > 0);
});

test('chat completion with n: 2', async () => {
  const r = await client().chat.completions.create({
    model, n: 2, messages: [{ role: 'user', content: 'two' }],
  });
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1]);
  for (const c of r.choices) assert.equal(c.message.content, 'mock reply: two');
});

test('chat stream with include_usage', async () => {
  const stream = await client().chat.completions.create({
    model, stream: true, stream_options: { include_usage: true },
    messages: [{ role: 'user', content: 'stream me a rather long sentence' }],
  });
  let text = '';
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      text += c.delta.content ?? '';
      finish = c.finish_reason ?? finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, 'mock reply: stream me a rather long sentence');
  assert.equal(finish, 'stop');
  assert.ok(usage && usage.completion_tokens > 0 && usage.prompt_tokens > 0);
});

test('chat stream helper: finalChatCompletion', async () => {
  const stream = client().chat.completions.stream({
    model, messages: [{ role: 'user', content: 'helper' }],
  });
  const done = await stream.finalChatCompletion();
  assert.equal(done.choices[0].message.content, 'mock reply: helper');
});

test('tool call (tool_choice required)', async () => {
  const r = await client().chat.completions.create({
    model, tools: weather, tool_choice: 'required',
    messages: [{ role: 'user', content: 'weather in Paris?' }],
  });
  const c = r.choices[0];
  assert.equal(c.finish_reason, 'tool_calls');
  assert.equal(c.message.tool_calls[0].type, 'function');
  assert.equal(c.message.tool_calls[0].function.name, 'get_weather');
  const args = JSON.parse(c.message.tool_calls[0].function.arguments);
  assert.equal(typeof args.city, 'string');
  assert.equal(typeof args.days, 'number');
});

test('tool call by directive, streamed', async () => {
  const stream = client().chat.completions.stream({
    model, tools: weather,
    messages: [{ role: 'user', content: 'weather? [mock tool_call]' }],
  });
  const done = await stream.finalChatCompletion();
  const call = done.choices[0].message.tool_calls[0];
  assert.equal(done.choices[0].finish_reason, 'tool_calls');
  assert.equal(call.function.name, 'get_weather');
  assert.equal(JSON.parse(call.function.arguments).city, 'mock');
});

test('embeddings with default options (base64) decode to 8 floats', async () => {
  const r = await client().embeddings.create({
    model: 'text-embedding-3-small', input: ['a', 'b'],
  });
  assert.equal(r.data.length, 2);
  for (const [i, d] of r.data.entries()) {
    assert.equal(d.embedding.length, 8);
    for (const [k, v] of d.embedding.entries()) {
      assert.ok(Number.isFinite(v) && v >= 0 && v < 1, `value ${v}`);
      assert.ok(Math.abs(v - ((i + k) % 7) / 7) < 1e-6);
    }
  }
});

test('embeddings as floats with dimensions', async () => {
  const r = await client().embeddings.create({
    model: 'text-embedding-3-small', input: 'x', dimensions: 4,
    encoding_format: 'float',
  });
  assert.equal(r.data[0].embedding.length, 4);
});

test('responses.create', async () => {
  const r = await client().responses.create({ model, input: 'hi there' });
  assert.equal(r.status, 'completed');
  assert.equal(r.output_text, 'mock reply: hi there');
});

test('responses.stream(...).finalResponse()', async () => {
  const stream = client().responses.stream({ model, input: 'stream a response please' });
  const types = [];
  let deltas = '';
  stream.on('event', (e) => types.push(e.type));
  stream.on('response.output_text.delta', (e) => { deltas += e.delta; });
  const r = await stream.finalResponse();
  assert.equal(r.output_text, 'mock reply: stream a response please');
  assert.equal(deltas, r.output_text);
  assert.equal(types[0], 'response.created');
  assert.equal(types.at(-1), 'response.completed');
  for (const t of ['response.in_progress', 'response.output_item.added',
    'response.content_part.added', 'response.output_text.done',
    'response.content_part.done', 'response.output_item.done']) {
    assert.ok(types.includes(t), `missing ${t}`);
  }
});

test('completions', async () => {
  const r = await client().completions.create({
    model: 'gpt-3.5-turbo-instruct', prompt: 'complete me', n: 2,
  });
  assert.equal(r.choices.length, 2);
  assert.equal(r.choices[0].text, 'mock reply: complete me');
});

test('models.list and models.retrieve', async () => {
  const ids = [];
  for await (const m of client().models.list()) ids.push(m.id);
  assert.ok(ids.includes('mock-model'));
  const one = await client().models.retrieve('gpt-x');
  assert.equal(one.id, 'gpt-x');
  assert.equal(one.object, 'model');
});

test('moderations', async () => {
  const r = await client().moderations.create({ input: ['fine', 'bad [mock flagged]'] });
  assert.equal(r.results.length, 2);
  assert.equal(r.results[0].flagged, false);
  assert.equal(r.results[1].flagged, true);
  assert.equal(r.results[1].categories.violence, true);
});

test('images: b64_json with usage, or URLs', async () => {
  const g = await client().images.generate({ model: 'gpt-image-1', prompt: 'a cat', n: 2 });
  assert.equal(g.data.length, 2);
  assert.equal(Buffer.from(g.data[0].b64_json, 'base64').subarray(1, 4).toString(), 'PNG');
  assert.ok(g.usage.output_tokens > 0);
  const u = await client().images.generate({ model: 'dall-e-3', prompt: 'a dog', response_format: 'url' });
  assert.match(u.data[0].url, /^https:\/\//);
  assert.equal(u.usage, undefined);
});

test('errors carry the provider shape and the request id', async () => {
  await assert.rejects(client().get('/nope'), (err) => {
    assert.equal(err.status, 404);
    assert.ok(err instanceof OpenAI.NotFoundError);
    assert.match(err.requestID, /^req_mock_/);
    assert.equal(err.type, 'not_found_error');
    return true;
  });
});

for (const [name, directive, cls] of [
  ['429 with Retry-After', 'status=429 times=1 retry_after=0.1', OpenAI.RateLimitError],
  ['500', 'status=500 times=1', OpenAI.InternalServerError],
]) {
  test(`a ${name} once is retried`, async () => {
    const messages = (tag) => [{ role: 'user', content: `openai ${tag} [mock ${directive}]` }];
    await assert.rejects(
      client({ maxRetries: 0 }).chat.completions.create({ model, messages: messages(`no-retry ${name}`) }),
      cls);
    const r = await client({ maxRetries: 2 }).chat.completions.create({
      model, messages: messages(`retry ${name}`),
    });
    assert.match(r.choices[0].message.content, /^mock reply: openai retry/);
  });
}
