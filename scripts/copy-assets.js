#!/usr/bin/env node
// Node-RED finds a node's editor file, message catalog and icons beside the node's .js file,
// so the compiled nodes in dist/nodes get copies of nodes/*.html, nodes/locales and icons/.
//
// A device kind's help is derived from its operation table: in nodes/*.html, a line
//   <!-- workcell:operations <module path under dist> <EXPORT_NAME> -->
// is replaced by operationsHelp(require(dist/<module path>)[EXPORT_NAME]). This runs after tsc,
// so the compiled modules exist; a marker naming a missing module or export fails the build.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist');
const out = path.join(dist, 'nodes');

const MARKER = /workcell:operations/;
const MARKER_LINE = /^\s*<!--\s*workcell:operations\s+([\w./-]+)\s+([A-Za-z_$][\w$]*)\s*-->\s*$/;

/** The operations help for one marker, or an Error saying exactly what is wrong with it. */
function operationsHelpFor(file, lineNo, modulePath, exportName) {
  const where = `${file}:${lineNo}`;
  const target = path.resolve(dist, modulePath);
  if (!target.startsWith(dist + path.sep)) throw new Error(`${where}: workcell:operations module "${modulePath}" is outside dist/`);
  const helpers = path.join(dist, 'lib', 'device', 'operations.js');
  let operationsHelp;
  try {
    ({ operationsHelp } = require(helpers));
  } catch (err) {
    throw new Error(`${where}: cannot load ${path.relative(root, helpers)} (run tsc first): ${err.message}`);
  }
  let mod;
  try {
    mod = require(target);
  } catch (err) {
    throw new Error(`${where}: workcell:operations module "${modulePath}" cannot be loaded from dist/: ${err.message}`);
  }
  const table = mod[exportName];
  if (!Array.isArray(table)) {
    const found = Object.keys(mod).join(', ') || 'nothing';
    throw new Error(`${where}: "${modulePath}" has no operation table export "${exportName}" (it exports ${found})`);
  }
  return operationsHelp(table);
}

/** The editor file with every operations marker replaced by the help derived from its table. */
function expandMarkers(file, text) {
  const lines = text.split('\n');
  return lines
    .map((line, i) => {
      if (!MARKER.test(line)) return line;
      const m = MARKER_LINE.exec(line);
      if (!m) throw new Error(`${file}:${i + 1}: malformed marker; expected <!-- workcell:operations <module path under dist> <EXPORT_NAME> -->, got: ${line.trim()}`);
      return operationsHelpFor(file, i + 1, m[1], m[2]).replace(/\n+$/, '');
    })
    .join('\n');
}

try {
  fs.mkdirSync(out, { recursive: true });
  for (const name of fs.readdirSync(path.join(root, 'nodes'))) {
    if (!name.endsWith('.html')) continue;
    const source = path.join(root, 'nodes', name);
    fs.writeFileSync(path.join(out, name), expandMarkers(path.relative(root, source), fs.readFileSync(source, 'utf8')));
  }
  fs.cpSync(path.join(root, 'nodes', 'locales'), path.join(out, 'locales'), { recursive: true });
  fs.cpSync(path.join(root, 'icons'), path.join(out, 'icons'), { recursive: true });
} catch (err) {
  console.error(`copy-assets: ${err.message}`);
  process.exit(1);
}
