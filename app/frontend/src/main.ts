// The single-page app: header with the SSE indicator, a tiny router, the AI dialog.

import { AiDialog } from './aiDialog'
import { h } from './dom'
import { renderPartDetail, renderPartsList } from './pages'
import { sse } from './sse'
import './styles.css'

const root = document.getElementById('app') as HTMLElement
const main = h('main', { id: 'main' })

const statusBadge = h('span', { class: 'sse-status', testid: 'app.sse.status', role: 'status' })
sse.onStatus((status) => {
  statusBadge.dataset.state = status
  statusBadge.textContent = { connecting: 'Connecting…', open: 'Live', closed: 'Offline' }[status]
  statusBadge.title = `Live updates: ${status}`
})

function navigate(path: string): void {
  if (path !== location.pathname) history.pushState(null, '', path)
  render()
}

const dialog = new AiDialog((key) => navigate(`/parts/${key}`))

root.append(
  h(
    'header',
    {},
    h('a', { href: '/parts', 'data-link': true, class: 'brand' }, 'Parts inventory'),
    h('div', { class: 'spacer' }),
    statusBadge,
    h('button', { type: 'button', class: 'primary', testid: 'parts.ai.open', onclick: () => dialog.open() }, 'Add part with AI'),
  ),
  main,
  dialog.element,
)

function render(): void {
  const path = location.pathname.replace(/\/+$/, '') || '/'
  const detail = /^\/parts\/([^/]+)$/.exec(path)
  if (path === '/' || path === '/parts') renderPartsList(main)
  else if (detail) renderPartDetail(main, decodeURIComponent(detail[1]), navigate)
  else main.replaceChildren(h('div', { class: 'error-box', testid: 'app.not-found' }, h('h1', {}, 'Page not found')))
}

document.addEventListener('click', (event) => {
  const link = (event.target as Element).closest('a[data-link]') as HTMLAnchorElement | null
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey) return
  event.preventDefault()
  navigate(link.pathname)
})
window.addEventListener('popstate', render)

render()
sse.connect()
