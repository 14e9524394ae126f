// What each task_event means for the dialog: pure, so it is easy to reason about.

export type AnalysisResult = {
  description: string | null
  manufacturer: string | null
  manufacturer_code: string | null
  type: string | null
  type_is_existing: boolean
  existing_type_id: number | null
  tags: string[]
  [field: string]: unknown
}

export type Duplicate = { key: string; description: string; manufacturer_code?: string | null }

export type TaskEvent = { event_type: string; task_id: string; timestamp?: string; data: unknown }

export type TaskOutcome =
  | { kind: 'started' }
  | { kind: 'progress'; text: string; value: number | null }
  | { kind: 'review'; result: AnalysisResult; warning: string | null; duplicates: Duplicate[] }
  | { kind: 'error'; message: string }

type Completed = {
  success?: boolean
  error_message?: string | null
  analysis?: {
    analysis_result?: AnalysisResult | null
    duplicate_parts?: Duplicate[] | null
    analysis_failure_reason?: string | null
  } | null
}

export function isTaskEvent(value: unknown, taskId: string): value is TaskEvent {
  return !!value && typeof value === 'object' && (value as TaskEvent).task_id === taskId
}

export function interpretTaskEvent(event: TaskEvent): TaskOutcome | null {
  switch (event.event_type) {
    case 'task_started':
      return { kind: 'started' }
    case 'progress_update': {
      const data = (event.data ?? {}) as { text?: unknown; value?: unknown }
      const value = typeof data.value === 'number' ? Math.min(1, Math.max(0, data.value)) : null
      return { kind: 'progress', text: typeof data.text === 'string' ? data.text : 'Working…', value }
    }
    case 'task_completed':
      return completed((event.data ?? {}) as Completed)
    case 'task_failed': {
      const data = (event.data ?? {}) as { error?: unknown }
      return { kind: 'error', message: typeof data.error === 'string' ? data.error : 'The analysis failed' }
    }
    default:
      return null
  }
}

function completed(data: Completed): TaskOutcome {
  const analysis = data.analysis ?? null
  const reason = analysis?.analysis_failure_reason ?? null
  if (data.success === false) {
    return { kind: 'error', message: data.error_message || reason || 'The analysis did not succeed' }
  }
  const result = analysis?.analysis_result ?? null
  if (!result) return { kind: 'error', message: reason || 'The analysis returned no result' }
  return { kind: 'review', result, warning: reason, duplicates: analysis?.duplicate_parts ?? [] }
}
