/// <reference types="vitest/config" />
import { defineConfig } from "vite";

// The build is shipped inside the Python package (src/publicrooms/web) so pip users need no Node.
// Nothing may be inlined: the page is served under a strict CSP (script-src 'self'; style-src 'self').
export default defineConfig({
  base: "/",
  server: {
    proxy: {
      "/api": "http://127.0.0.1:8123",
      "/socket.io": { target: "http://127.0.0.1:8123", ws: true },
    },
  },
  build: {
    outDir: "../src/publicrooms/web",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    target: "es2022",
    sourcemap: false,
  },
  test: {
    environment: "jsdom",
    include: ["test/**/*.test.ts"],
  },
});
