// One EventSource per tab, kept for the tab's life and reconnected with the
// same request_id, so the backend can keep addressing this page.

import { emitTestEvent, isTestMode } from './testEvents'

export type SseStatus = 'connecting' | 'open' | 'closed'
export type Envelope = { type: string; payload: unknown }
type Handler = (payload: unknown) => void

const RECONNECT_DELAYS_MS = [250, 500, 1000, 2000, 5000]
const RECENT_LIMIT = 200

/** Parse one unnamed SSE message's data as the gateway's `{type, payload}` envelope. */
export function parseEnvelope(data: string): Envelope | null {
  try {
    const value: unknown = JSON.parse(data)
    if (value && typeof value === 'object' && typeof (value as Envelope).type === 'string') {
      return { type: (value as Envelope).type, payload: (value as Envelope).payload }
    }
  } catch {
    // not an envelope: ignored below
  }
  return null
}

function randomId(): string {
  if (typeof crypto !== 'undefined' && 'randomUUID' in crypto) return crypto.randomUUID()
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`
}

export class SseClient {
  readonly requestId = randomId()
  private source: EventSource | null = null
  private status: SseStatus = 'closed'
  private retries = 0
  private retryTimer: number | undefined
  private readonly handlers = new Map<string, Set<Handler>>()
  private readonly statusListeners = new Set<(status: SseStatus) => void>()
  // Recent envelopes, so a subscriber that arrives a moment late (a task whose
  // first events beat the analyze response) still sees them.
  private readonly recent: Envelope[] = []

  constructor(private readonly baseUrl = '/sse/stream') {}

  getStatus(): SseStatus {
    return this.status
  }

  connect(): void {
    this.closeSource()
    this.setStatus('connecting')
    const source = new EventSource(`${this.baseUrl}?request_id=${encodeURIComponent(this.requestId)}`)
    this.source = source
    // The gateway sends its headers only once the backend accepted the stream,
    // so "open" means this request_id is registered. The `ready` event some
    // gateways send afterwards carries nothing more and is ignored.
    source.onopen = () => {
      if (this.source !== source) return
      this.retries = 0
      this.setStatus('open')
      emitTestEvent({ kind: 'sse', streamId: 'main', phase: 'open', event: 'open', data: { requestId: this.requestId } })
    }
    source.addEventListener('rejected', (event) => {
      const data = parseJson((event as MessageEvent<string>).data)
      this.closeSource()
      this.setStatus('closed')
      emitTestEvent({ kind: 'sse', streamId: 'main', phase: 'error', event: 'rejected', data })
    })
    source.onmessage = (event: MessageEvent<string>) => this.dispatch(event.data)
    source.onerror = () => {
      if (this.source !== source) return
      emitTestEvent({ kind: 'sse', streamId: 'main', phase: 'error', event: 'error', data: { readyState: source.readyState } })
      // The browser retries by itself only while CONNECTING; a CLOSED source is ours to reopen.
      this.setStatus(source.readyState === EventSource.CLOSED ? 'closed' : 'connecting')
      if (source.readyState === EventSource.CLOSED) this.scheduleReconnect()
    }
  }

  /** Close the stream for good (until reconnect() is called). */
  disconnect(): void {
    window.clearTimeout(this.retryTimer)
    this.closeSource()
    this.setStatus('closed')
    emitTestEvent({ kind: 'sse', streamId: 'main', phase: 'close', event: 'disconnect', data: { requestId: this.requestId } })
  }

  reconnect(): void {
    window.clearTimeout(this.retryTimer)
    this.retries = 0
    this.connect()
  }

  /** Subscribe to envelopes of one type; returns the unsubscribe function. */
  subscribe(type: string, handler: Handler, { replay = false } = {}): () => void {
    let set = this.handlers.get(type)
    if (!set) this.handlers.set(type, (set = new Set()))
    set.add(handler)
    if (replay) for (const envelope of this.recent) if (envelope.type === type) handler(envelope.payload)
    return () => set.delete(handler)
  }

  onStatus(listener: (status: SseStatus) => void): () => void {
    this.statusListeners.add(listener)
    listener(this.status)
    return () => this.statusListeners.delete(listener)
  }

  private dispatch(data: string): void {
    const envelope = parseEnvelope(data)
    if (!envelope) return
    this.recent.push(envelope)
    if (this.recent.length > RECENT_LIMIT) this.recent.shift()
    emitTestEvent({ kind: 'sse', streamId: 'main', phase: 'message', event: envelope.type, data: envelope.payload })
    for (const handler of this.handlers.get(envelope.type) ?? []) handler(envelope.payload)
  }

  private scheduleReconnect(): void {
    const delay = RECONNECT_DELAYS_MS[Math.min(this.retries, RECONNECT_DELAYS_MS.length - 1)]
    this.retries += 1
    this.retryTimer = window.setTimeout(() => this.connect(), delay)
  }

  private closeSource(): void {
    if (this.source) {
      this.source.onerror = null
      this.source.onmessage = null
      this.source.onopen = null
      this.source.close()
      this.source = null
    }
  }

  private setStatus(status: SseStatus): void {
    if (status === this.status) return
    this.status = status
    for (const listener of this.statusListeners) listener(status)
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

export const sse = new SseClient()

if (isTestMode) {
  window.__sseControls = {
    getStatus: () => sse.getStatus(),
    getRequestId: () => sse.requestId,
    disconnect: () => sse.disconnect(),
    reconnect: () => sse.reconnect(),
  }
}
