#!/usr/bin/env node
// Runs the TypeScript entry point directly: Node 24 strips the types.
import '../src/main.ts';
