// Chat with any catalog model: streamed token by token (SSE from POST /v1/chat/completions), a stop button, and
// each answer's tokens (the stream's usage chunk) and cost (the usage record the gateway wrote for that request id).
import { errorOf, get, headers, report, session, url } from '../api.js';
import { errorBox, field, fill, h, money, notice, num, select } from '../ui.js';

// Parses an SSE byte stream into the JSON of each `data:` event; stops at [DONE].
export async function* sseEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, '');
      const data = block.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      if (!data) continue;
      if (data === '[DONE]') return;
      yield JSON.parse(data);
    }
  }
}

// The cost the gateway recorded for this request (its usage record, written when the stream settles).
async function recordedCost(requestId) {
  for (let attempt = 0; attempt < 20; attempt++) {
    const page = await get('activity/history', { event_type: 'api_call', limit: 20 });
    const found = page.data.find((e) => e.id === `usage_${requestId}`);
    if (found) return found.event_data;
    await new Promise((r) => setTimeout(r, 150 * (attempt + 1)));
  }
  return null;
}

export async function render() {
  const models = (await get('models')).data.filter((m) => !m.modality || m.modality.endsWith('->text'));
  const model = select(models.map((m) => [m.id, m.name]), { name: 'model' });
  const preferred = models.find((m) => m.id === 'openai/gpt-4o-mini');
  if (preferred) model.value = preferred.id;
  const system = h('textarea', { name: 'system', rows: 2, placeholder: 'You are a helpful assistant.' });
  const prompt = h('textarea', { name: 'prompt', rows: 4, required: true, placeholder: 'Ask anything' });
  const answer = h('div', { class: 'answer', id: 'answer', role: 'log', 'aria-label': 'Answer' });
  const meta = h('div', { class: 'answer-meta', id: 'answer-meta', 'aria-live': 'polite' });
  const send = h('button', { type: 'submit' }, 'Send');
  const stop = h('button', { type: 'button', class: 'secondary', disabled: true }, 'Stop');
  let controller = null;
  stop.addEventListener('click', () => controller?.abort());

  const form = h('form', { class: 'stack', 'aria-label': 'Playground' },
    field('Model', model), field('System prompt (optional)', system), field('Your message', prompt),
    h('div', { class: 'actions-left' }, send, stop));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    controller = new AbortController();
    send.disabled = true;
    stop.disabled = false;
    fill(answer);
    fill(meta, h('span', { class: 'muted' }, 'Waiting for the first token…'));
    const messages = [];
    if (system.value.trim()) messages.push({ role: 'system', content: system.value });
    messages.push({ role: 'user', content: prompt.value });
    let usage = null;
    let requestId = null;
    let stopped = false;
    try {
      const response = await fetch(url('v1/chat/completions'), {
        method: 'POST', signal: controller.signal,
        headers: headers({ 'Content-Type': 'application/json', Accept: 'text/event-stream' }),
        body: JSON.stringify({ model: model.value, messages, stream: true, stream_options: { include_usage: true } }),
      });
      if (!response.ok) throw report(await errorOf(response));
      requestId = response.headers.get('X-Gateway-Request-Id');
      const provider = response.headers.get('X-Gateway-Provider');
      fill(meta, h('span', { class: 'muted' }, `Streaming from ${provider || 'the provider'}…`));
      for await (const chunk of sseEvents(response.body)) {
        if (chunk.error) throw new Error(chunk.error.message);
        if (chunk.usage) usage = chunk.usage;
        for (const choice of chunk.choices || []) {
          if (choice.delta?.content) answer.append(document.createTextNode(choice.delta.content));
        }
      }
    } catch (err) {
      if (err.name === 'AbortError') stopped = true;
      else fill(meta, errorBox(err));
    } finally {
      send.disabled = false;
      stop.disabled = true;
    }
    if (!requestId) return;
    const tokens = usage ? `${num(usage.total_tokens)} tokens (${num(usage.prompt_tokens)} in, ${num(usage.completion_tokens)} out)` : '';
    fill(meta, h('span', { class: 'muted' }, stopped ? 'Stopped. ' : '', tokens, ' · cost being recorded…'));
    const record = await recordedCost(requestId).catch(() => null);
    if (!record) {
      meta.append(notice('The cost of this answer is not recorded yet: see Usage in a moment.', 'warn'));
      return;
    }
    fill(meta, h('span', {}, stopped ? 'Stopped. ' : '',
      tokens || `${num(record.tokens)} tokens`, ' · cost ',
      h('strong', { id: 'answer-cost', 'data-cost': record.cost }, money(record.cost, record.currency)),
      ` · ${record.provider}`));
  });

  return h('div', {},
    h('h1', {}, 'Playground'),
    session.isSandbox ? notice('This is a test key: the sandbox. The built-in model answers, and nothing is charged.', 'info') : null,
    h('div', { class: 'grid two' },
      h('section', { class: 'card', 'aria-label': 'Request' }, form),
      h('section', { class: 'card', 'aria-labelledby': 'answer-h' }, h('h2', { id: 'answer-h' }, 'Answer'), answer, meta)));
}
