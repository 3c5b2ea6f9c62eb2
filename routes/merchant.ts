/**
 * The merchant API surface: every request on the data port goes through the
 * data path, which answers 404 `not_found` for anything but /api/vN/.
 * Plain Node request handling, no router: the data path matches paths
 * itself (gateway/identify.ts), and a router in front of it cost CPU on
 * every request for nothing.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';

export function merchantRoutes(handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>): RequestListener {
  return function merchantApi(req, res) {
    void handle(req, res);
  };
}
