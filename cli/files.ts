/** Reads a ruleset or canary file for the CLI: JSON or YAML, `-` for standard input. */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { UsageError } from './client.ts';

export function readDocument(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    // YAML 1.2 is a superset of JSON, but JSON.parse gives the clearer message for a .json file.
    const doc = /\.json$/i.test(file) ? JSON.parse(text) : parseYaml(text);
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('the document must be an object');
    return doc;
  } catch (err) {
    throw new UsageError(`${file} is not valid ${/\.json$/i.test(file) ? 'JSON' : 'YAML or JSON'}: ${(err as Error).message.split('\n')[0]}`);
  }
}
