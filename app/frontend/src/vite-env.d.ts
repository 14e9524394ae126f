/// <reference types="vite/client" />

interface ImportMetaEnv {
  readonly VITE_TEST_MODE?: string
  readonly VITE_AI_STALL_TIMEOUT_MS?: string
}
