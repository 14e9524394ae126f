
import { defineConfig } from 'vite'

// Every address comes from the environment at start, so the harness can run
// one dev server per worker on its own ports (host and port come from the CLI).
const backendUrl = process.env.BACKEND_URL ?? 'http://127.0.0.1:5001'
const gatewayUrl = process.env.SSE_GATEWAY_URL ?? 'http://127.0.0.1:3001'

// Only GETs of streams go to the gateway: /internal/* (its send API) must
// never be reachable from a browser.
function refuseNonStream(req) {
  const path = decodeURIComponent((req.url ?? '').split('?')[0])
  if (req.method !== 'GET' || /^\/sse\/+internal(\/|$)/.test(path)) return false
  return undefined
}

const proxy = {
  '^/sse/': {
    target: gatewayUrl,
    changeOrigin: true,
    rewrite: (path) => path.replace(/^\/sse/, ''),
    bypass: (req) => refuseNonStream(req),
    // Events must reach the page as they are written: no buffering, no compression.
    headers: { 'Accept-Encoding': 'identity' },
    configure: (server) => {
      server.on('proxyRes', (res) => {
        res.headers['cache-control'] = 'no-cache'
        res.headers['x-accel-buffering'] = 'no'
      })
    },
  },
  '^/api/': { target: backendUrl, changeOrigin: true },
}

export default defineConfig({
  // Several dev servers may start at once from one checkout: each gets its
  // own dependency cache when VITE_CACHE_DIR is set, so none races another.
  cacheDir: process.env.VITE_CACHE_DIR || 'node_modules/.vite',
  clearScreen: false,
  server: { proxy, strictPort: true },
  preview: { proxy, strictPort: true },
  build: { sourcemap: true },
})
