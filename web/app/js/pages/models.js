// The catalog (GET /models): prices per million tokens, context length, with search and filters.
import { get } from '../api.js';
import { field, fill, h, input, num, select, table } from '../ui.js';

export const perMillion = (perToken) => (perToken == null ? '—' : `$${(Number(perToken) * 1e6).toFixed(2).replace(/\.00$/, '')}`);

export async function render() {
  const models = (await get('models')).data;
  const providers = [...new Set(models.map((m) => m.provider))].sort();
  const modalities = [...new Set(models.map((m) => m.modality).filter(Boolean))].sort();
  const search = input({ type: 'search', name: 'q', placeholder: 'Name or id' });
  const provider = select([['', 'All providers'], ...providers.map((p) => [p, p])], { name: 'provider' });
  const modality = select([['', 'All kinds'], ...modalities.map((m) => [m, m])], { name: 'modality' });
  const holder = h('div', { 'aria-live': 'polite' });
  const columns = [
    { label: 'Model', render: (m) => h('div', {}, h('strong', {}, m.name), h('br'), h('code', { class: 'small' }, m.id)) },
    { label: 'Provider', render: (m) => m.provider },
    { label: 'Context', num: true, render: (m) => num(m.context_length) },
    { label: 'Input / M tokens', num: true, render: (m) => perMillion(m.pricing?.prompt) },
    { label: 'Output / M tokens', num: true, render: (m) => perMillion(m.pricing?.completion) },
    { label: 'Kind', render: (m) => m.modality },
  ];
  const update = () => {
    const q = search.value.trim().toLowerCase();
    const rows = models.filter((m) => (!q || m.id.toLowerCase().includes(q) || m.name.toLowerCase().includes(q))
      && (!provider.value || m.provider === provider.value) && (!modality.value || m.modality === modality.value));
    fill(holder, h('p', { class: 'muted', id: 'model-count' }, `${rows.length} of ${models.length} models`),
      table(columns, rows, { caption: 'Models', empty: 'No model matches.' }));
  };
  for (const el of [search, provider, modality]) el.addEventListener('input', update);
  update();
  return h('div', {},
    h('h1', {}, 'Models'),
    h('section', { class: 'card wide', 'aria-label': 'Catalog' },
      h('form', { class: 'inline-form', role: 'search', 'aria-label': 'Filter models', onsubmit: (e) => e.preventDefault() },
        field('Search', search), field('Provider', provider), field('Kind', modality)),
      holder));
}
