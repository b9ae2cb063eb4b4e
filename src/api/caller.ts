// What the authentication and quota hooks learn about a request, for the routes and the
// response headers.

export interface Caller {
  clientId: string;
  clientName: string;
}

export interface QuotaState {
  limit: number;
  used: number;
  /** Epoch ms when the window ends and the count starts again. */
  resetAt: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | undefined;
    quota: QuotaState | undefined;
  }
}
