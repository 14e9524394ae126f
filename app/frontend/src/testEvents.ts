// Test-mode instrumentation: every moment a test may wait on is reported to
// window.__playwright_emitTestEvent when the harness has exposed it. Outside
// test mode, import.meta.env.VITE_TEST_MODE is replaced by false at build
// time and all of this is dead code.

export type TestEvent =
  | { kind: 'sse'; streamId: string; phase: 'open' | 'message' | 'error' | 'close'; event: string; data: unknown }
  | { kind: 'list_loading'; scope: string; phase: 'loading' | 'ready' | 'error'; metadata?: Record<string, unknown> }
  | { kind: 'ui_state'; scope: string; phase: string; metadata?: Record<string, unknown> }

declare global {
  interface Window {
    __playwright_emitTestEvent?: (event: TestEvent & { timestamp: string }) => void
    __sseControls?: {
      getStatus(): string
      getRequestId(): string
      disconnect(): void
      reconnect(): void
    }
    __aiStallTimeoutMs?: number
  }
}

export const isTestMode = import.meta.env.VITE_TEST_MODE === 'true'

export function emitTestEvent(event: TestEvent): void {
  if (!isTestMode) return
  const emit = window.__playwright_emitTestEvent
  if (typeof emit !== 'function') return
  try {
    emit({ ...event, timestamp: new Date().toISOString() })
  } catch {
    // The binding goes away when the page closes; instrumentation must never break the app.
  }
}
