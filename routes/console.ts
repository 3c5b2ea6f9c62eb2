/**
 * The ops console (SPEC 12, issue 17) at /console on the admin port: static
 * ES modules from `console/`, uPlot and the YAML parser from node_modules
 * (no CDN, no build step). The page holds no data of its own: everything it
 * shows comes from the admin API with the operator's Bearer token, so the
 * files themselves are served without one.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { Router, type NextFunction, type Request, type Response } from 'express';

const require = createRequire(import.meta.url);
const PAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'console');
const UPLOT_DIR = dirname(require.resolve('uplot'));
const YAML_DIR = join(dirname(require.resolve('yaml')), '..', 'browser', 'dist');

/**
 * Only files of this origin run or style the page; nothing inline (so an
 * injected string can never execute), no framing (clickjacking), no form
 * posts elsewhere. uPlot styles its elements through the CSSOM, which
 * `style-src` without 'unsafe-inline' allows.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function consoleHeaders(_req: Request, res: Response, next: NextFunction) {
  res.setHeader('content-security-policy', CONSOLE_CSP);
  res.setHeader('x-frame-options', 'DENY'); // for browsers without frame-ancestors (RFC 7034)
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('referrer-policy', 'no-referrer');
  res.setHeader('cross-origin-opener-policy', 'same-origin');
  res.setHeader('cross-origin-resource-policy', 'same-origin');
  next();
}

const files = (dir: string) => express.static(dir, {
  index: false, dotfiles: 'ignore', redirect: false, fallthrough: true,
  // Files change with the gateway's version: always revalidate (ETag), never serve stale code.
  cacheControl: true, maxAge: 0, setHeaders: (res) => res.setHeader('cache-control', 'no-cache'),
});

/** Serves the console under /console; unknown paths fall through to the admin app's 404. */
export function consoleRouter(): Router {
  const router = Router({ caseSensitive: true, strict: true });
  router.use('/console', consoleHeaders);
  router.get('/console', function consoleRedirect(_req, res) { res.redirect(301, '/console/'); });
  router.get('/console/', function consolePage(_req, res) {
    res.setHeader('cache-control', 'no-cache');
    res.sendFile(join(PAGE_DIR, 'index.html'));
  });
  router.use('/console/app', files(PAGE_DIR));
  // Only the two files the page loads, not the whole package folder.
  router.get(['/console/vendor/uplot/uPlot.esm.js', '/console/vendor/uplot/uPlot.min.css'], function uplot(req, res) {
    res.setHeader('cache-control', 'no-cache');
    res.sendFile(join(UPLOT_DIR, req.path.slice('/console/vendor/uplot/'.length)));
  });
  router.use('/console/vendor/yaml', files(YAML_DIR));
  return router;
}
