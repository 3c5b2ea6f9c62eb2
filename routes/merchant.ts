/** The merchant API surface: everything under /api/vN/ goes through the data path; nothing else is served. */
import { Router, type Request, type Response } from 'express';

export function merchantRouter(handle: (req: Request, res: Response) => Promise<void>): Router {
  const router = Router({ caseSensitive: true, strict: true });
  router.use(function merchantApi(req, res) {
    void handle(req, res);
  });
  return router;
}
