import { describe, expect, it } from 'vitest'
import { parseEnvelope, SseClient } from './sse'

describe('parseEnvelope', () => {
  it('unwraps the gateway envelope', () => {
    expect(parseEnvelope('{"type":"task_event","payload":{"a":1}}')).toEqual({ type: 'task_event', payload: { a: 1 } })
    expect(parseEnvelope('{"type":"ping","payload":null}')).toEqual({ type: 'ping', payload: null })
  })

  it('ignores what is not an envelope', () => {
    expect(parseEnvelope('not json')).toBeNull()
    expect(parseEnvelope('{"payload":1}')).toBeNull()
    expect(parseEnvelope('[1,2]')).toBeNull()
    expect(parseEnvelope('')).toBeNull()
  })
})

describe('SseClient.subscribe', () => {
  const deliver = (client: SseClient, data: string) =>
    (client as unknown as { dispatch(data: string): void }).dispatch(data)

  it('dispatches by type and replays recent envelopes to late subscribers', () => {
    const client = new SseClient()
    deliver(client, '{"type":"task_event","payload":{"n":1}}')
    deliver(client, '{"type":"other","payload":{"n":2}}')
    const seen: unknown[] = []
    const unsubscribe = client.subscribe('task_event', (payload) => seen.push(payload), { replay: true })
    deliver(client, '{"type":"task_event","payload":{"n":3}}')
    unsubscribe()
    deliver(client, '{"type":"task_event","payload":{"n":4}}')
    expect(seen).toEqual([{ n: 1 }, { n: 3 }])
  })

  it('keeps one request id for the life of the tab', () => {
    const client = new SseClient()
    expect(client.requestId).toMatch(/^[A-Za-z0-9_-]{8,128}$/)
    expect(client.requestId).toBe(client.requestId)
  })
})
