#!/usr/bin/env node
// Dart syntax check without a Dart SDK: parses each file given on the command line with the
// tree-sitter Dart grammar (npm @sengac/tree-sitter-dart, Dart 3) and reports every ERROR or
// MISSING node as `file:line:column`. Exit status 1 when any file has one.
//
//   node dart/tool/check_dart_syntax.cjs $(git ls-files 'dart/*.dart')
//
// Needs @sengac/tree-sitter and @sengac/tree-sitter-dart resolvable from NODE_PATH
// (dart/tool/check.sh installs them with `npm install --prefix <cache>`).
'use strict';
const fs = require('fs');
const Parser = require('@sengac/tree-sitter');
const Dart = require('@sengac/tree-sitter-dart');

const parser = new Parser();
parser.setLanguage(Dart);

// The grammar does not know `external` field declarations (dart:ffi structs): blank the
// keyword, keeping every column where it was.
const EXTERNAL_FIELD =
  /^(\s*(?:static\s+|late\s+|final\s+)*)external(\s+[^;{}=()]*[A-Za-z_$][\w$]*\s*;\s*)$/gm;

// Nor the unnamed library directive `library;` (Dart 2.19): give it a name for the parse.
const UNNAMED_LIBRARY = /^(\s*)library\s*;/gm;

function problems(node, out) {
  if (node.type === 'ERROR' || node.isMissing) {
    out.push(node);
  } else if (node.hasError) {
    for (const child of node.children) problems(child, out);
  }
  return out;
}

let failed = 0;
for (const file of process.argv.slice(2)) {
  const source = fs
    .readFileSync(file, 'utf8')
    .replace(EXTERNAL_FIELD, (_, a, b) => a + ' '.repeat(8) + b)
    .replace(UNNAMED_LIBRARY, (_, a) => a + 'library _;');
  // The callback form has no input size limit.
  const tree = parser.parse((index) => source.slice(index, index + 8192));
  const found = problems(tree.rootNode, []);
  for (const node of found.slice(0, 20)) {
    const where = `${file}:${node.startPosition.row + 1}:${node.startPosition.column + 1}`;
    const what = node.isMissing ? `MISSING ${node.type}` : 'ERROR';
    console.log(`${where}: ${what} ${JSON.stringify(node.text.slice(0, 60))}`);
  }
  if (found.length) failed++;
  console.log(`${file}: ${found.length ? `${found.length} syntax error node(s)` : 'ok'}`);
}
console.log(`dart syntax: ${process.argv.length - 2 - failed} ok, ${failed} with errors`);
process.exit(failed ? 1 : 0);
