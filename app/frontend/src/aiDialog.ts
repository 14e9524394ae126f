// "Add part with AI": input -> progress -> review, or error with Retry and Cancel.

import { ApiError, api, type PartType } from './api'
import { interpretTaskEvent, isTaskEvent, type AnalysisResult, type Duplicate, type TaskOutcome } from './aiTask'
import { field, h, replaceChildren } from './dom'
import { sse } from './sse'
import { emitTestEvent } from './testEvents'

type Step = 'input' | 'progress' | 'review' | 'error'

const DEFAULT_STALL_MS = Number(import.meta.env.VITE_AI_STALL_TIMEOUT_MS ?? 30000)

const REVIEW_FIELDS: [label: string, name: string][] = [
  ['Manufacturer', 'manufacturer'],
  ['Manufacturer Code', 'manufacturer_code'],
  ['Dimensions', 'dimensions'],
  ['Voltage Rating', 'voltage_rating'],
  ['Mounting Type', 'mounting_type'],
  ['Package', 'package'],
  ['Pin Count', 'pin_count'],
  ['Pin Pitch', 'pin_pitch'],
  ['Series', 'series'],
  ['Input Voltage', 'input_voltage'],
  ['Output Voltage', 'output_voltage'],
  ['Product Page', 'product_page'],
]

function stallTimeoutMs(): number {
  return window.__aiStallTimeoutMs ?? DEFAULT_STALL_MS
}

export class AiDialog {
  private readonly root: HTMLDivElement
  private readonly body: HTMLDivElement
  private text = ''
  private taskId: string | null = null
  private unsubscribe: (() => void) | null = null
  private unwatchStatus: (() => void) | null = null
  private stallTimer: number | undefined

  constructor(private readonly onCreated: (key: string) => void) {
    this.body = h('div', { class: 'dialog-body' })
    this.root = h(
      'div',
      { class: 'dialog-backdrop', hidden: true },
      h(
        'div',
        { class: 'dialog', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'ai-title', testid: 'parts.ai.dialog' },
        h('h2', { id: 'ai-title' }, 'Add part with AI'),
        this.body,
      ),
    )
    document.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && !this.root.hidden) this.close()
    })
  }

  get element(): HTMLElement {
    return this.root
  }

  open(): void {
    this.root.hidden = false
    emitTestEvent({ kind: 'ui_state', scope: 'parts.ai.dialog', phase: 'open' })
    this.showInput()
  }

  close(): void {
    this.stopTask()
    this.root.hidden = true
    this.text = ''
    emitTestEvent({ kind: 'ui_state', scope: 'parts.ai.dialog', phase: 'close' })
  }

  private setStep(step: Step, metadata: Record<string, unknown> = {}): void {
    this.dialog.dataset.step = step
    emitTestEvent({ kind: 'ui_state', scope: 'parts.ai.dialog', phase: step, metadata })
  }

  private get dialog(): HTMLElement {
    return this.root.querySelector('.dialog') as HTMLElement
  }

  private showInput(): void {
    const input = h('textarea', {
      testid: 'parts.ai.input',
      'aria-label': 'Describe the part',
      rows: 4,
      placeholder: 'e.g. AMS1117 3.3V regulator, or paste a manufacturer part number',
    })
    input.value = this.text
    const submit = h('button', { type: 'submit', class: 'primary', testid: 'parts.ai.input.submit' }, 'Analyze')
    const form = h(
      'form',
      { class: 'stack' },
      h('label', { for: 'ai-text' }, 'What part do you want to add?'),
      input,
      h('p', { class: 'hint', testid: 'parts.ai.input.error', hidden: true }),
      h('div', { class: 'actions' }, this.cancelButton(), submit),
    )
    input.id = 'ai-text'
    form.addEventListener('submit', (event) => {
      event.preventDefault()
      this.text = input.value
      if (!this.text.trim()) {
        const hint = form.querySelector('[data-testid="parts.ai.input.error"]') as HTMLElement
        hint.hidden = false
        hint.textContent = 'Describe the part first.'
        return
      }
      void this.analyze()
    })
    replaceChildren(this.body, form)
    this.setStep('input')
    input.focus()
  }

  private async analyze(): Promise<void> {
    this.showProgress('Starting the analysis…', null)
    try {
      const { task_id } = await api.analyze(this.text, sse.requestId)
      this.listen(task_id)
    } catch (error) {
      const message =
        error instanceof ApiError && error.status === 409
          ? 'The live connection to the server is not open yet. Wait for the indicator to turn green and retry.'
          : error instanceof Error
            ? error.message
            : String(error)
      this.showError(message)
    }
  }

  private listen(taskId: string): void {
    this.stopTask()
    this.taskId = taskId
    this.unsubscribe = sse.subscribe(
      'task_event',
      (payload) => {
        if (isTaskEvent(payload, taskId)) this.apply(interpretTaskEvent(payload))
      },
      { replay: true },
    )
    this.unwatchStatus = sse.onStatus((status) => this.showConnection(status === 'open'))
    this.armStallTimer()
    emitTestEvent({ kind: 'sse', streamId: 'task', phase: 'open', event: 'task_subscription', data: { taskId } })
  }

  private apply(outcome: TaskOutcome | null): void {
    if (!outcome || this.taskId === null) return
    this.armStallTimer()
    switch (outcome.kind) {
      case 'started':
        this.showProgress('Analysis started', 0)
        break
      case 'progress':
        this.showProgress(outcome.text, outcome.value)
        break
      case 'review':
        this.stopTask()
        void this.showReview(outcome.result, outcome.warning, outcome.duplicates)
        break
      case 'error':
        this.stopTask()
        this.showError(outcome.message)
        break
    }
  }

  private armStallTimer(): void {
    window.clearTimeout(this.stallTimer)
    const limit = stallTimeoutMs()
    this.stallTimer = window.setTimeout(() => {
      this.stopTask()
      this.showError(`No news from the analysis for ${Math.round(limit / 1000)} s. Retry, or check that the server is running.`)
    }, limit)
  }

  private stopTask(): void {
    window.clearTimeout(this.stallTimer)
    this.unsubscribe?.()
    this.unwatchStatus?.()
    this.unsubscribe = this.unwatchStatus = null
    this.taskId = null
  }

  private showProgress(message: string, value: number | null): void {
    let panel = this.body.querySelector<HTMLElement>('[data-testid="parts.ai.progress"]')
    if (!panel || panel.dataset.state !== 'running') {
      panel = h(
        'div',
        { class: 'progress', testid: 'parts.ai.progress', 'data-state': 'running', 'aria-live': 'polite' },
        h('p', { testid: 'parts.ai.progress.message' }),
        h('progress', { max: 1, testid: 'parts.ai.progress.bar' }),
        h('p', { class: 'hint', testid: 'parts.ai.progress.connection', hidden: true }),
        h('div', { class: 'actions' }, this.cancelButton()),
      )
      replaceChildren(this.body, panel)
      this.setStep('progress')
    }
    ;(panel.querySelector('[data-testid="parts.ai.progress.message"]') as HTMLElement).textContent = message
    const bar = panel.querySelector('progress') as HTMLProgressElement
    if (value === null) bar.removeAttribute('value')
    else bar.value = value
  }

  private showConnection(isOpen: boolean): void {
    const hint = this.body.querySelector<HTMLElement>('[data-testid="parts.ai.progress.connection"]')
    if (!hint) return
    hint.hidden = isOpen
    hint.textContent = isOpen ? '' : 'Live connection lost; reconnecting…'
  }

  private showError(message: string): void {
    const panel = h(
      'div',
      { class: 'progress error', testid: 'parts.ai.progress', 'data-state': 'error', role: 'alert' },
      h('p', { testid: 'parts.ai.error.message' }, message),
      h(
        'div',
        { class: 'actions' },
        this.cancelButton(),
        h('button', { type: 'button', class: 'primary', testid: 'parts.ai.retry', onclick: () => this.showInput() }, 'Retry'),
      ),
    )
    replaceChildren(this.body, panel)
    this.setStep('error', { message })
  }

  private async showReview(result: AnalysisResult, warning: string | null, duplicates: Duplicate[]): Promise<void> {
    let types: PartType[] = []
    try {
      types = await api.listTypes()
    } catch (error) {
      this.showError(`Could not load the part types: ${error instanceof Error ? error.message : String(error)}`)
      return
    }
    const form = h('form', { class: 'review', testid: 'parts.ai.review' })
    if (warning) form.append(h('div', { class: 'warning', role: 'status', testid: 'parts.ai.review.warning' }, warning))
    if (duplicates.length) {
      form.append(
        h(
          'div',
          { class: 'warning', testid: 'parts.ai.review.duplicates' },
          'Possible duplicates in your inventory: ',
          ...duplicates.map((d) => h('a', { href: `/parts/${d.key}`, 'data-link': true }, `${d.key} (${d.description}) `)),
        ),
      )
    }
    form.append(
      field('Description', 'description', result.description ?? ''),
      this.typePicker(types, result),
      ...REVIEW_FIELDS.map(([label, name]) => field(label, name, valueText(result[name]))),
      field('Tags', 'tags', (result.tags ?? []).join(', ')),
      h('p', { class: 'hint error-text', testid: 'parts.ai.review.error', hidden: true }),
      h(
        'div',
        { class: 'actions' },
        this.cancelButton(),
        h('button', { type: 'submit', class: 'primary', testid: 'parts.ai.review.submit' }, 'Create part'),
      ),
    )
    form.addEventListener('submit', (event) => {
      event.preventDefault()
      void this.create(form)
    })
    replaceChildren(this.body, form)
    this.setStep('review', { warning })
  }

  private typePicker(types: PartType[], result: AnalysisResult): HTMLLabelElement {
    const select = h('select', { name: 'type', testid: 'parts.ai.review.type' })
    select.append(h('option', { value: '' }, '(no type)'))
    const suggestedNew = !result.type_is_existing && result.type ? result.type : null
    if (suggestedNew) select.append(h('option', { value: `new:${suggestedNew}` }, `New type: ${suggestedNew}`))
    for (const type of types) select.append(h('option', { value: String(type.id) }, type.name))
    if (result.type_is_existing && result.existing_type_id !== null) select.value = String(result.existing_type_id)
    else if (suggestedNew) select.value = `new:${suggestedNew}`
    return h('label', { class: 'field' }, h('span', {}, 'Type'), select)
  }

  private async create(form: HTMLFormElement): Promise<void> {
    const data = new FormData(form)
    const fields: Record<string, unknown> = {}
    for (const [, name] of [['', 'description'], ...REVIEW_FIELDS]) fields[name] = String(data.get(name) ?? '').trim() || null
    const pins = fields.pin_count as string | null
    fields.pin_count = pins === null ? null : Number.isInteger(Number(pins)) ? Number(pins) : pins
    fields.tags = String(data.get('tags') ?? '').split(',').map((t) => t.trim()).filter(Boolean)
    const type = String(data.get('type') ?? '')
    fields.type_id = type && !type.startsWith('new:') ? Number(type) : null
    fields.type_name = type.startsWith('new:') ? type.slice(4) : null
    const submit = form.querySelector('[data-testid="parts.ai.review.submit"]') as HTMLButtonElement
    const errorText = form.querySelector('[data-testid="parts.ai.review.error"]') as HTMLElement
    submit.disabled = true
    try {
      const part = await api.createFromAnalysis(fields)
      this.close()
      this.onCreated(part.key)
    } catch (error) {
      errorText.hidden = false
      errorText.textContent = error instanceof Error ? error.message : String(error)
      submit.disabled = false
    }
  }

  private cancelButton(): HTMLButtonElement {
    return h('button', { type: 'button', testid: 'parts.ai.cancel', onclick: () => this.close() }, 'Cancel')
  }
}

function valueText(value: unknown): string {
  return value === null || value === undefined ? '' : String(value)
}
