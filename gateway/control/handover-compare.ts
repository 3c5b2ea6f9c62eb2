/**
 * What makes two answers for one payment the same payment (issue 16,
 * docs/handover.md): the fields that define it, read with the same API call
 * from both backends. Descriptions, notify URLs and timestamps may differ
 * after a migration; ids, order number, amounts, status and refunds may not.
 */
import type { ApiVersion } from '../config.ts';

/** One field on which the two answers disagree. */
export interface FieldDifference { field: string; from: unknown; to: unknown }

/** Paths of the defining fields of a payment answer, per API version. */
export const DEFINING_FIELDS: Record<ApiVersion, readonly string[]> = {
  v1: ['trade_no', 'out_trade_no', 'total_amount', 'currency', 'status', 'refunded_amount'],
  v2: ['id', 'merchantOrderId', 'amount.value', 'amount.currency', 'status', 'amountRefunded.value', 'refunds.length'],
};

function at(doc: unknown, path: string): unknown {
  let v: unknown = doc;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/**
 * The differences between the answers of `from` and `to` (HTTP status and
 * body of the same GET); empty when they agree. An answer other than 200 on
 * either side is a difference: nothing is moved on a guess.
 */
export function compareAnswers(apiVersion: ApiVersion, from: { status: number; body: unknown }, to: { status: number; body: unknown }): FieldDifference[] {
  if (from.status !== 200 || to.status !== 200) return [{ field: 'httpStatus', from: from.status, to: to.status }];
  const out: FieldDifference[] = [];
  for (const field of DEFINING_FIELDS[apiVersion]) {
    const a = at(from.body, field);
    const b = at(to.body, field);
    if (a === undefined || a !== b) out.push({ field, from: a ?? null, to: b ?? null });
  }
  return out;
}
