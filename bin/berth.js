#!/usr/bin/env -S node --max-semi-space-size=1 --initial-old-space-size=64
'use strict';
require('../dist/core/cli.js').main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code; },
  (err) => { console.error(err && err.stack ? err.stack : String(err)); process.exitCode = 1; },
);
