/**
 * The console's views, in navigation order. A view is a module whose default
 * export is `{id, title, mount(root, ctx) → cleanup?}`; adding one is adding
 * its module and a line here.
 */
import overview from './overview.js';
import rules from './rules.js';
import merchants from './merchants.js';
import canary from './canary.js';
import drain from './drain.js';
import audit from './audit.js';

export const views = [overview, rules, merchants, canary, drain, audit];
