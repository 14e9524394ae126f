// The backend's JSON API, through Vite's /api proxy.

export type PartType = { id: number; name: string; part_count?: number }

export type Part = {
  key: string
  description: string
  type_id: number | null
  type: string | null
  manufacturer: string | null
  manufacturer_code: string | null
  tags: string[]
  [field: string]: unknown
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message)
  }
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  let response: Response
  try {
    response = await fetch(path, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
  } catch (error) {
    throw new ApiError(0, `Cannot reach the server (${String(error)})`)
  }
  if (response.status === 204) return undefined as T
  const text = await response.text()
  let payload: unknown = null
  try {
    payload = text ? JSON.parse(text) : null
  } catch {
    payload = null
  }
  if (!response.ok) {
    const error = payload as { error?: string; details?: Record<string, unknown> } | null
    const message = error?.error ?? `The server answered ${response.status} ${response.statusText}`
    throw new ApiError(response.status, message, error?.details ?? {})
  }
  return payload as T
}

export const api = {
  listParts: () => request<Part[]>('GET', '/api/parts'),
  getPart: (key: string) => request<Part>('GET', `/api/parts/${encodeURIComponent(key)}`),
  deletePart: (key: string) => request<void>('DELETE', `/api/parts/${encodeURIComponent(key)}`),
  listTypes: () => request<PartType[]>('GET', '/api/types'),
  analyze: (text: string, requestId: string) =>
    request<{ task_id: string; status: string }>('POST', '/api/ai-parts/analyze', { text, request_id: requestId }),
  createFromAnalysis: (fields: Record<string, unknown>) => request<Part>('POST', '/api/ai-parts/create', fields),
}
