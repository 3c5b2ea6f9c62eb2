/**
 * Reading the figures of a generated Markdown report (BENCHMARKS.md): the
 * tables of a section as cells, and the numbers in a cell, so that tests
 * assert values rather than the report's wording.
 */

/** The text of the section under `heading` (a `## ` line, matched by its start) up to the next `## `. */
export function section(md: string, heading: string): string {
  const start = md.split('\n').findIndex((l) => l.startsWith(heading));
  if (start < 0) throw new Error(`no section "${heading}"`);
  const lines = md.split('\n').slice(start + 1);
  const end = lines.findIndex((l) => l.startsWith('## '));
  return lines.slice(0, end < 0 ? undefined : end).join('\n');
}

/** The Markdown tables of `text`, each as its body rows of trimmed cells (header and rule left out). */
export function tables(text: string): string[][][] {
  const out: string[][][] = [];
  let rows: string[][] | null = null;
  for (const line of text.split('\n')) {
    if (!line.startsWith('|')) { rows = null; continue; }
    const cells = line.slice(1, -1).split(' | ').map((c) => c.trim());
    if (!rows) { rows = []; out.push(rows); continue; } // the header
    if (cells.every((c) => /^-+$/.test(c))) continue;
    rows.push(cells);
  }
  return out;
}

/** The lines of `text` outside its tables, blank lines left out. */
export function paragraphs(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('|'));
}

/** The row of `table` whose first cell starts with `label`. */
export function row(table: string[][], label: string): string[] {
  const found = table.find((r) => r[0].startsWith(label));
  if (!found) throw new Error(`no row "${label}" in ${JSON.stringify(table.map((r) => r[0]))}`);
  return found;
}

/** A row's cells with every figure read as its numbers and every verdict cell ("**met**", "**not met**") kept as it is. */
export function figures(cells: string[]): Array<number[] | string> {
  return cells.map((c) => (/^\*\*(not )?met\*\*$/.test(c) ? c : numbers(c)));
}

/** Every number in `text` ("1,000", "+0.50", "12.5 %"), in order. */
export function numbers(text: string): number[] {
  return [...text.matchAll(/[+-]?\d[\d,]*(?:\.\d+)?/g)].map((m) => Number(m[0].replaceAll(',', '')));
}
