#!/usr/bin/env node
/*
 * The Flow Library's scorecard for this package: `node-red-dev validate` run on what `npm pack`
 * would publish. node-red-dev asks the Flow Library for its catalogue (to check that no other
 * package has a similar name or the same node type names); a machine that cannot reach
 * catalogue.nodered.org gets the answer from a local file instead:
 *
 *   node scripts/flow-library-check.js [catalogue.json]
 *
 * Without a file the local catalogue lists no other module: the name and node-type uniqueness
 * checks then pass trivially, and say so. Every other check (package name, licence, keywords,
 * Node-RED and Node.js versions, examples for every node, dependencies) runs as on the Flow
 * Library, the npm registry included. node-red-dev itself comes through npx (not a dependency).
 */
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const NODE_RED_DEV = 'node-red-dev@0.1.6';
const root = path.resolve(__dirname, '..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'workcell-flow-library-'));
try {
  const catalogueFile = process.argv[2] ? path.resolve(process.argv[2]) : path.join(work, 'catalogue.json');
  if (!process.argv[2]) fs.writeFileSync(catalogueFile, JSON.stringify({ name: 'local stand-in: no other modules', modules: [] }));
  const tarball = execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: root, encoding: 'utf8' }).trim().split('\n').pop();
  execFileSync('tar', ['xzf', path.join(work, tarball), '-C', work]);
  const stub = path.join(work, 'catalogue-stub.js');
  fs.writeFileSync(
    stub,
    `// Answers node-red-dev's catalogue request from ${JSON.stringify(catalogueFile)}; every other request goes out.
const Module = require('module');
const load = Module._load;
const catalogue = JSON.parse(require('fs').readFileSync(${JSON.stringify(catalogueFile)}, 'utf8'));
Module._load = function (request, parent, isMain) {
  const loaded = load.apply(this, arguments);
  if (request === 'axios' && !loaded.__workcellStub) {
    const get = loaded.get.bind(loaded);
    loaded.get = (url, ...rest) => {
      if (String(url).startsWith('https://catalogue.nodered.org/')) {
        process.stderr.write('[catalogue answered locally: ' + catalogue.modules.length + ' modules]\\n');
        return Promise.resolve({ status: 200, data: catalogue });
      }
      return get(url, ...rest);
    };
    loaded.__workcellStub = true;
  }
  return loaded;
};
`,
  );
  const scorecard = path.join(work, 'scorecard.json');
  execFileSync('npx', ['--yes', NODE_RED_DEV, 'validate', '-p', path.join(work, 'package'), '-o', scorecard], {
    stdio: 'inherit',
    env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${stub}`.trim() },
  });
  const card = JSON.parse(fs.readFileSync(scorecard, 'utf8'));
  const failed = Object.entries(card).filter(([, v]) => v && v.test === false);
  console.log(failed.length ? `scorecard: ${failed.map(([k]) => k).join(', ')} not met` : 'scorecard: every check met');
  process.exitCode = failed.length ? 1 : 0;
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
