/**
 * `POST /v1/admin/erasures` (admin scope): erases one customer from the scorer, the retained messages of
 * the streams, the card directory and the state snapshots (`forgetInScorer`: scorer/runtime/erasure.ts
 * `scorerEraser`), then from the warehouse (sinks/clickhouse/erasure.ts, docs/security.md "Erasure"). The request's own audit row is written by the
 * erasure with the erasure id, never the customer id: the body carries the id, so no URL or log line
 * holds it. Erasures of one customer are serialized within the process.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ClickHouseClient } from '@clickhouse/client';
import { eraseCustomer, ErasureIncompleteError, ErasureInputError, ErasureUnsupportedError, MAX_CUSTOMER_ID } from '../sinks/mod.js';
import { notErased, placesOf, SCORER_ERASURE_TIMEOUT, type ErasedOutsideWarehouse } from '../contracts/erasure.js';
import type { AccessAudit } from './audit.js';
import type { ErrorCode } from './errors.js';

export interface ErasureRouteDeps {
  warehouse: ClickHouseClient;
  database: string;
  audit: AccessAudit;
  clientAddress: (req: FastifyRequest) => string;
  send: (reply: FastifyReply, code: ErrorCode, extra?: Record<string, unknown>, message?: string) => FastifyReply;
  /**
   * Makes the scorer forget the customer and erases what NATS retains of them, first (AppDeps.forgetInScorer,
   * `scorerEraser`); its result gives the answer's `scorer`, `streams`, `card_directory`, `snapshots` and `mention_snapshots`. Absent: the answer lists the scorer
   * state, the streams and the card directory under not_erased.
   */
  forgetInScorer?: (customerId: string, erasureId: string) => Promise<ErasedOutsideWarehouse>;
}

/** The scorer did not confirm it forgot the customer; nothing was erased from the warehouse. */
class ScorerNotConfirmedError extends Error {
  override readonly name = 'ScorerNotConfirmedError';
}

const EraseBody = Type.Object({
  customer_id: Type.String({ minLength: 1, maxLength: MAX_CUSTOMER_ID }),
  reference: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "the bank's reference for the request (a ticket number); never personal data" })),
}, { additionalProperties: false });

export function registerErasureRoutes(app: FastifyInstance, deps: ErasureRouteDeps): void {
  const running = new Map<string, Promise<unknown>>();

  app.post('/v1/admin/erasures', {
    config: { scope: 'admin' },
    bodyLimit: 4096,
    schema: {
      tags: ['admin'], security: [{ bearer: [] }], body: EraseBody,
      summary: 'Erase a customer: from the scorer, the streams\' retained messages, the card directory and the state snapshots (securely deleted), then the warehouse (the profile deleted, kept records under a random erasure id)',
    },
  }, async (req, reply) => {
    const body = req.body as { customer_id: string; reference?: string };
    const previous = running.get(body.customer_id);
    let outside: ErasedOutsideWarehouse | undefined;
    const run = (async () => {
      await previous?.catch(() => undefined);
      // The customer's audit rows still in this process's buffer are rewritten with the rest.
      await deps.audit.flush();
      const forgetInScorer = deps.forgetInScorer;
      const forget = forgetInScorer
        ? async (erasureId: string): Promise<void> => {
          try {
            outside = await forgetInScorer(body.customer_id, erasureId);
          } catch (err) {
            const failure = err as Error;
            throw new ScorerNotConfirmedError(failure.name === SCORER_ERASURE_TIMEOUT ? `the scorer has not confirmed it forgot the customer (${failure.message})` : failure.message);
          }
        }
        : undefined;
      return await eraseCustomer(deps.warehouse, deps.database, {
        customerId: body.customer_id, principal: req.principal?.id ?? 'anonymous', via: req.principal?.via ?? 'open', method: req.method,
        route: req.routeOptions.url ?? '/v1/admin/erasures', remoteAddr: deps.clientAddress(req), userAgent: String(req.headers['user-agent'] ?? ''),
        requestId: req.id, ...(body.reference ? { reference: body.reference } : {}), ...(forget ? { forget } : {}),
      });
    })();
    running.set(body.customer_id, run);
    try {
      const result = await run;
      return { ...result, ...(outside ? placesOf(outside) : {}), not_erased: notErased(deps.forgetInScorer !== undefined, outside) };
    } catch (err) {
      req.auditAction = 'admin.erase';
      if (err instanceof ScorerNotConfirmedError) {
        req.log.warn({ err: err.message }, 'erasure: the scorer did not confirm');
        return deps.send(reply, 'VAFA_SCORER_UNAVAILABLE', {}, `The erasure outside the warehouse did not finish: ${err.message}; nothing was erased from the warehouse. Retry it: it resumes with the same erasure id.`);
      }
      if (err instanceof ErasureInputError) return deps.send(reply, 'VAFA_BAD_BODY', {}, `${err.message}.`);
      if (err instanceof ErasureUnsupportedError) return deps.send(reply, 'VAFA_INTERNAL', {}, `${err.message}.`);
      if (err instanceof ErasureIncompleteError) return deps.send(reply, 'VAFA_WAREHOUSE_UNAVAILABLE', {}, `The erasure did not finish: ${err.message}. Retry it: it resumes with the same erasure id.`);
      req.log.warn({ err: (err as Error).message }, 'erasure failed');
      return deps.send(reply, 'VAFA_WAREHOUSE_UNAVAILABLE', {}, 'The erasure did not finish (ClickHouse failed); retry it: it resumes with the same erasure id.');
    } finally {
      if (running.get(body.customer_id) === run) running.delete(body.customer_id);
    }
  });
}
