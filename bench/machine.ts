/** The machine and the versions a benchmark ran on, for the report. */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { ROOT } from './procs.ts';

export interface Machine {
  date: string;
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  loadBefore: number[];
  loadAfter?: number[];
  versions: Record<string, string>;
}

function firstLine(cmd: string, args: string[], pattern?: RegExp): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error || r.status === null) return 'not installed';
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const m = pattern ? pattern.exec(text) : null;
  return m ? m[1] : text.split('\n')[0].trim();
}

function packageVersion(name: string): string {
  try { return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version; } catch { return 'unknown'; }
}

function osName(): string {
  try {
    const pretty = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'));
    return `${pretty ? pretty[1] : os.type()}, kernel ${os.release()}`;
  } catch {
    return `${os.type()} ${os.release()}`;
  }
}

export function describeMachine(): Machine {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: osName(),
    loadBefore: os.loadavg().map((x) => Math.round(x * 100) / 100),
    versions: {
      node: process.version,
      'redis-server': firstLine('redis-server', ['--version'], /v=(\S+)/),
      haproxy: firstLine('haproxy', ['-v'], /version (\S+)/),
      nginx: firstLine('nginx', ['-v'], /nginx\/(\S+)/),
      autocannon: packageVersion('autocannon'),
      express: packageVersion('express'),
      'http-proxy-middleware': packageVersion('http-proxy-middleware'),
      ioredis: packageVersion('ioredis'),
    },
  };
}

export function loadNow(): number[] {
  return os.loadavg().map((x) => Math.round(x * 100) / 100);
}
