// The two screens: parts list and part detail.

import { ApiError, api, type Part } from './api'
import { h, replaceChildren } from './dom'
import { emitTestEvent } from './testEvents'

export type Navigate = (path: string) => void

const DETAIL_FIELDS: [string, string][] = [
  ['Type', 'type'],
  ['Manufacturer', 'manufacturer'],
  ['Manufacturer Code', 'manufacturer_code'],
  ['Package', 'package'],
  ['Mounting Type', 'mounting_type'],
  ['Pin Count', 'pin_count'],
  ['Pin Pitch', 'pin_pitch'],
  ['Dimensions', 'dimensions'],
  ['Voltage Rating', 'voltage_rating'],
  ['Input Voltage', 'input_voltage'],
  ['Output Voltage', 'output_voltage'],
  ['Series', 'series'],
  ['Product Page', 'product_page'],
  ['Created', 'created_at'],
]

function matches(part: Part, needle: string): boolean {
  const haystack = [part.key, part.description, part.type, part.manufacturer, part.manufacturer_code, ...part.tags]
  return haystack.some((value) => typeof value === 'string' && value.toLowerCase().includes(needle))
}

export function renderPartsList(container: HTMLElement): void {
  const search = h('input', {
    type: 'search',
    placeholder: 'Search parts',
    'aria-label': 'Search parts',
    testid: 'parts.list.search',
  })
  const results = h('div', { class: 'results' })
  const summary = h('p', { class: 'hint', testid: 'parts.list.summary' })
  replaceChildren(container, h('div', { class: 'toolbar' }, h('h1', {}, 'Parts'), search), summary, results)
  let parts: Part[] = []

  const show = () => {
    const needle = search.value.trim().toLowerCase()
    const visible = needle ? parts.filter((part) => matches(part, needle)) : parts
    summary.textContent = `${visible.length} of ${parts.length} parts`
    if (!visible.length) {
      const message = parts.length ? `No part matches “${search.value.trim()}”.` : 'No parts yet. Add one with AI.'
      replaceChildren(results, h('p', { class: 'empty', testid: 'parts.list.empty' }, message))
      return
    }
    replaceChildren(results, h('table', { testid: 'parts.list' }, tableHead(), h('tbody', {}, ...visible.map(row))))
  }

  const load = async () => {
    replaceChildren(results, h('p', { class: 'loading', testid: 'parts.list.loading' }, 'Loading parts…'))
    summary.textContent = ''
    emitTestEvent({ kind: 'list_loading', scope: 'parts.list', phase: 'loading' })
    try {
      parts = await api.listParts()
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      replaceChildren(
        results,
        h(
          'div',
          { class: 'error-box', role: 'alert', testid: 'parts.list.error' },
          h('p', {}, `Could not load the parts: ${message}`),
          h('button', { type: 'button', testid: 'parts.list.retry', onclick: () => void load() }, 'Retry'),
        ),
      )
      emitTestEvent({ kind: 'list_loading', scope: 'parts.list', phase: 'error', metadata: { message } })
      return
    }
    show()
    emitTestEvent({ kind: 'list_loading', scope: 'parts.list', phase: 'ready', metadata: { totalCount: parts.length } })
  }

  search.addEventListener('input', show)
  void load()
}

function tableHead(): HTMLTableSectionElement {
  const names = ['Key', 'Description', 'Type', 'Manufacturer code', 'Tags']
  return h('thead', {}, h('tr', {}, ...names.map((name) => h('th', { scope: 'col' }, name))))
}

function row(part: Part): HTMLTableRowElement {
  return h(
    'tr',
    { testid: 'parts.list.item', 'data-key': part.key },
    h('td', {}, h('a', { href: `/parts/${part.key}`, 'data-link': true, class: 'key' }, part.key)),
    h('td', {}, part.description),
    h('td', {}, part.type ?? '—'),
    h('td', {}, part.manufacturer_code ?? '—'),
    h('td', {}, ...part.tags.map((tag) => h('span', { class: 'tag' }, tag))),
  )
}

export function renderPartDetail(container: HTMLElement, key: string, navigate: Navigate): void {
  replaceChildren(container, h('p', { class: 'loading', testid: 'parts.detail.loading' }, 'Loading part…'))
  api.getPart(key).then(
    (part) => replaceChildren(container, detail(part, navigate)),
    (error: unknown) => {
      const missing = error instanceof ApiError && (error.status === 404 || error.status === 400)
      const message = missing ? `There is no part with key ${key}.` : `Could not load part ${key}: ${String(error)}`
      replaceChildren(
        container,
        h(
          'div',
          { class: 'error-box', role: 'alert', testid: missing ? 'parts.detail.not-found' : 'parts.detail.error' },
          h('h1', {}, missing ? 'Part not found' : 'Something went wrong'),
          h('p', {}, message),
          h('a', { href: '/parts', 'data-link': true }, 'Back to the parts list'),
        ),
      )
    },
  )
}

function detail(part: Part, navigate: Navigate): HTMLElement {
  const confirm = h(
    'div',
    { class: 'confirm', hidden: true, role: 'alertdialog', testid: 'parts.detail.delete.confirm-box' },
    h('p', {}, `Delete ${part.key} for good?`),
    h('button', { type: 'button', testid: 'parts.detail.delete.cancel', onclick: () => (confirm.hidden = true) }, 'Keep it'),
    h(
      'button',
      {
        type: 'button',
        class: 'danger',
        testid: 'parts.detail.delete.confirm',
        onclick: () => api.deletePart(part.key).then(() => navigate('/parts'), (error) => alertBox(confirm, error)),
      },
      'Delete',
    ),
  )
  const rows = DETAIL_FIELDS.map(([label, name]) =>
    h('div', { class: 'row' }, h('dt', {}, label), h('dd', { 'data-field': name }, display(part[name]))),
  )
  return h(
    'article',
    { testid: 'parts.detail', 'data-key': part.key },
    h('p', {}, h('a', { href: '/parts', 'data-link': true }, '← All parts')),
    h('h1', {}, h('span', { class: 'key', testid: 'parts.detail.key' }, part.key), ' ', part.description),
    h('p', { testid: 'parts.detail.tags' }, ...part.tags.map((tag) => h('span', { class: 'tag' }, tag))),
    h('dl', {}, ...rows),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'button', class: 'danger', testid: 'parts.detail.delete', onclick: () => (confirm.hidden = false) }, 'Delete'),
    ),
    confirm,
  )
}

function display(value: unknown): string {
  return value === null || value === undefined || value === '' ? '—' : String(value)
}

function alertBox(parent: HTMLElement, error: unknown): void {
  parent.append(h('p', { class: 'error-text', role: 'alert' }, error instanceof Error ? error.message : String(error)))
}
