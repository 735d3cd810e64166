#!/usr/bin/env node
// kpr's entry point. The sources are TypeScript run directly by Node 24's type stripping, so the
// only thing this shim does is refuse older Node versions with advice instead of a syntax error.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `kpr needs Node.js 24 or newer (this is ${process.version}). Run it as \`npx kpr\` from the ` +
      'checkout after `npm ci`, which installs Node 24 into node_modules/.bin.\n',
  );
  process.exit(1);
}
await import('../src/cli/main.ts');
