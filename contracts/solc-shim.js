#!/usr/bin/env node
// Answers like the native `solc` binary for the two calls py-solc-x makes before and during
// `compile_standard` (`--version`, `--standard-json`), using the pinned npm solc-js, because no
// native solc can be installed on our machines.
'use strict';
const solc = require('solc');

const args = process.argv.slice(2);
if (args.includes('--version')) {
  process.stdout.write('solc, the solidity compiler commandline interface\n');
  process.stdout.write(`Version: ${solc.version()}\n`);
} else if (args.includes('--standard-json')) {
  const chunks = [];
  process.stdin.on('data', (c) => chunks.push(c));
  process.stdin.on('end', () => {
    const output = solc.compile(Buffer.concat(chunks).toString('utf8'));
    // exitCode, not exit(): exit() right after a large write cuts stdout at 128 KiB.
    process.stdout.write(output);
    process.exitCode = 0;
  });
} else {
  process.stderr.write('solc-shim supports only --version and --standard-json\n');
  process.exitCode = 1;
}
