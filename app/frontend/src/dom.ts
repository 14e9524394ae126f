// A tiny element builder: enough for a few screens without a framework.

type Child = Node | string | number | null | undefined | false
type Attrs = Record<string, string | number | boolean | EventListener | null | undefined>

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2).toLowerCase(), value)
    } else if (name === 'testid') {
      el.dataset.testid = String(value)
    } else if (name in el && typeof value !== 'string') {
      ;(el as unknown as Record<string, unknown>)[name] = value
    } else {
      el.setAttribute(name, value === true ? '' : String(value))
    }
  }
  append(el, children)
  return el
}

export function append(parent: Element, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    parent.append(child instanceof Node ? child : String(child))
  }
}

export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren()
  append(parent, children)
}

/** A labelled text input; the label's text is what tests and screen readers find. */
export function field(label: string, name: string, value: string, type = 'text'): HTMLLabelElement {
  return h(
    'label',
    { class: 'field' },
    h('span', {}, label),
    h('input', { name, type, value, testid: `field.${name}` }),
  )
}
