#!/usr/bin/env node
// Puts each example file into the docs that show it. A page marks the place with
//   <!-- example: examples/src/sdk/connect.ts -->
// followed by a fenced code block, which this replaces with the file as it is.
//   node scripts/docs-examples.js          rewrite the blocks in place
//   node scripts/docs-examples.js --check  fail (exit 1) when a block differs from its file
// The examples are the source: they are compiled by `tsc -b` and run by the tests
// (test/cli/sdk-docs.test.ts), so what the docs show is what was run.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const pages = ['docs/sdk.md'];
const MARKER = /<!-- example: (\S+) -->\n```(\w*)\n[\s\S]*?\n```/g;

/** The page with every marked block replaced by its file; and the files it shows. */
function render(text) {
  const shown = [];
  const out = text.replace(MARKER, (_, file, lang) => {
    shown.push(file);
    const body = fs.readFileSync(path.join(root, file), 'utf8').replace(/\n+$/, '');
    return `<!-- example: ${file} -->\n\`\`\`${lang}\n${body}\n\`\`\``;
  });
  return { out, shown };
}

if (require.main === module) {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const page of pages) {
    const file = path.join(root, page);
    const text = fs.readFileSync(file, 'utf8');
    const { out, shown } = render(text);
    if (out === text) continue;
    if (check) {
      console.error(
        `${page}: an example block differs from its file (${shown.join(', ')}); run npm run docs:examples`,
      );
      stale++;
    } else {
      fs.writeFileSync(file, out);
      console.log(`${page}: examples updated`);
    }
  }
  process.exitCode = stale > 0 ? 1 : 0;
}

module.exports = { render, pages };
