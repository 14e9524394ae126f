import { describe, expect, it } from 'vitest'
import { interpretTaskEvent, isTaskEvent, type AnalysisResult } from './aiTask'

const result: AnalysisResult = {
  description: 'LDO',
  manufacturer: 'AMS',
  manufacturer_code: 'AMS1117-3.3',
  type: 'Voltage regulator',
  type_is_existing: true,
  existing_type_id: 2,
  tags: ['ldo'],
}

const event = (event_type: string, data: unknown) => ({ event_type, task_id: 't1', data })

describe('interpretTaskEvent', () => {
  it('starts and reports progress, clamping the value', () => {
    expect(interpretTaskEvent(event('task_started', null))).toEqual({ kind: 'started' })
    expect(interpretTaskEvent(event('progress_update', { text: 'Reading', value: 0.4 }))).toEqual({
      kind: 'progress',
      text: 'Reading',
      value: 0.4,
    })
    expect(interpretTaskEvent(event('progress_update', { text: 'x', value: 7 }))).toMatchObject({ value: 1 })
    expect(interpretTaskEvent(event('progress_update', {}))).toEqual({ kind: 'progress', text: 'Working…', value: null })
  })

  it('goes to review with the warning and duplicates of a completed analysis', () => {
    const outcome = interpretTaskEvent(
      event('task_completed', {
        success: true,
        analysis: { analysis_result: result, duplicate_parts: [{ key: 'VREG', description: 'LDO' }], analysis_failure_reason: 'unsure' },
        error_message: null,
      }),
    )
    expect(outcome).toEqual({ kind: 'review', result, warning: 'unsure', duplicates: [{ key: 'VREG', description: 'LDO' }] })
  })

  it('turns a failure reason without a result into an error', () => {
    const outcome = interpretTaskEvent(
      event('task_completed', { success: true, analysis: { analysis_result: null, analysis_failure_reason: 'Too vague' } }),
    )
    expect(outcome).toEqual({ kind: 'error', message: 'Too vague' })
  })

  it('prefers the error message of an unsuccessful completion', () => {
    const outcome = interpretTaskEvent(event('task_completed', { success: false, error_message: 'Quota', analysis: null }))
    expect(outcome).toEqual({ kind: 'error', message: 'Quota' })
  })

  it('reports task_failed and ignores unknown event types', () => {
    expect(interpretTaskEvent(event('task_failed', { error: 'Boom' }))).toEqual({ kind: 'error', message: 'Boom' })
    expect(interpretTaskEvent(event('task_failed', {}))).toEqual({ kind: 'error', message: 'The analysis failed' })
    expect(interpretTaskEvent(event('something_else', {}))).toBeNull()
  })

  it('matches events of one task only', () => {
    expect(isTaskEvent(event('task_started', null), 't1')).toBe(true)
    expect(isTaskEvent(event('task_started', null), 't2')).toBe(false)
    expect(isTaskEvent(null, 't1')).toBe(false)
  })
})
