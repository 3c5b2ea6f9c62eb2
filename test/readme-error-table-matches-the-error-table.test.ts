/**
 * The README's error table is the one place users read the error codes: it
 * must list exactly the codes of `ERRORS` in gateway/errors.ts, with the same
 * statuses (issue 14: one error table, checked against errors.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERRORS } from '../gateway/errors.ts';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** The rows `| \`code\` | status | meaning |` of the table under the `## Errors` heading. */
function readmeErrorRows(text: string): { code: string; status: number; meaning: string }[] {
  const start = text.search(/^## Errors\s*$/m);
  assert.notEqual(start, -1, 'README.md has no "## Errors" section');
  const rest = text.slice(start).split('\n').slice(1);
  const end = rest.findIndex((line) => line.startsWith('## '));
  const section = end === -1 ? rest : rest.slice(0, end);
  const rows: { code: string; status: number; meaning: string }[] = [];
  for (const line of section) {
    const m = /^\|\s*`([a-z0-9_]+)`\s*\|\s*(\d{3})\s*\|(.*)\|\s*$/.exec(line);
    if (m) rows.push({ code: m[1]!, status: Number(m[2]), meaning: m[3]!.trim() });
  }
  return rows;
}

const rows = readmeErrorRows(readme);

test('the README error table lists every code of ERRORS and no other', () => {
  const inReadme = rows.map((r) => r.code).sort();
  const inTable = Object.keys(ERRORS).sort();
  assert.deepEqual(inReadme, inTable);
});

test('each code appears once in the README table, with the status errors.ts gives it', () => {
  const seen = new Set<string>();
  for (const { code, status } of rows) {
    assert.ok(!seen.has(code), `${code} is listed twice`);
    seen.add(code);
    if (code in ERRORS) assert.equal(status, ERRORS[code as keyof typeof ERRORS].status, `${code}: README says ${status}`);
  }
});

test('every README row says what the code means', () => {
  for (const { code, meaning } of rows) assert.ok(meaning.length > 0, `${code}: empty meaning`);
});
