// Every error the API can answer with, in one table: its code, HTTP status and a default
// message. docs/errors.md documents each code and a test keeps the two in step.

export const ERRORS = {
  invalid_request: { status: 400, message: 'The request is malformed.' },
  validation_failed: { status: 400, message: 'A field of the request is missing or invalid.' },
  webhook_url_refused: { status: 400, message: 'The webhook URL is not allowed.' },
  invalid_json: { status: 400, message: 'The request body is not valid JSON.' },
  unsupported_grant_type: {
    status: 400,
    message: 'Only grant_type=client_credentials is supported.',
  },
  invalid_client: { status: 401, message: 'The client credentials are wrong.' },
  invalid_token: { status: 401, message: 'A valid Bearer access token is required.' },
  not_found: { status: 404, message: 'No such resource.' },
  account_not_found: { status: 404, message: 'No account for this domain.' },
  message_not_found: { status: 404, message: 'No such message.' },
  webhook_not_found: { status: 404, message: 'This account has no webhook.' },
  suppression_not_found: { status: 404, message: 'This address is not on the suppression list.' },
  method_not_allowed: { status: 405, message: 'This method is not allowed on this path.' },
  account_exists: { status: 409, message: 'An account for this domain already exists.' },
  message_id_conflict: {
    status: 409,
    message: 'This Message-ID was already used for a different message.',
  },
  delivery_in_progress: {
    status: 409,
    message:
      'A message to or about this address is being delivered right now; ask again after Retry-After seconds.',
  },
  domain_not_valid: {
    status: 412,
    message: 'The sending domain is not verified: publish the missing DNS records first.',
  },
  payload_too_large: { status: 413, message: 'The request body is too large.' },
  unsupported_media_type: {
    status: 415,
    message: 'The content type of the request is not supported.',
  },
  quota_exceeded: { status: 429, message: 'The request quota for this interval is spent.' },
  too_many_attempts: {
    status: 429,
    message: 'Too many failed token requests; wait before trying again.',
  },
  sending_quota_exceeded: {
    status: 429,
    message: 'The account has sent its messages for today.',
  },
  internal_error: {
    status: 500,
    message: 'An internal error occurred. Quote the transactionId when reporting it.',
  },
  service_unavailable: { status: 503, message: 'The service is temporarily unavailable.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];

/** The KPN error body, plus `field` on validation errors. */
export interface ErrorBody {
  transactionId: string;
  status: number;
  name: ErrorCode;
  message: string;
  info: string;
  field?: string;
}

export interface AppErrorOptions {
  message?: string;
  /** The request field (e.g. `domain`, `query.domain`) that is wrong. */
  field?: string;
  /** Extra response headers, e.g. `Retry-After`. */
  headers?: Record<string, string>;
  cause?: unknown;
}

/** The one error class of the service: a code from `ERRORS` plus optional details. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly field: string | undefined;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, options: AppErrorOptions = {}) {
    super(options.message ?? ERRORS[code].message, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.field = options.field;
    this.headers = options.headers ?? {};
  }
}

export function errorBody(error: AppError, transactionId: string): ErrorBody {
  const body: ErrorBody = {
    transactionId,
    status: error.status,
    name: error.code,
    message: error.message,
    info: `docs/errors.md#${error.code}`,
  };
  if (error.field !== undefined) body.field = error.field;
  return body;
}
