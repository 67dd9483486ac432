#!/usr/bin/env node
// Runs the TypeScript sources through tsx: no build step between a clone and a running gateway.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
