/**
 * Runs the `cutover` CLI as an operator would: a child process from the
 * project root, with the admin URL and the full-rights token in its
 * environment unless `env` says otherwise.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ADMIN_TOKEN } from './stack.ts';

/** The project root, with a trailing slash. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

export interface CliResult { code: number; stdout: string; stderr: string }

export async function runCli(adminUrl: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['cli/cutover.ts', ...args], {
      cwd: ROOT, env: { ...process.env, CUTOVER_ADMIN_URL: adminUrl, CUTOVER_ADMIN_TOKEN: ADMIN_TOKEN, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
