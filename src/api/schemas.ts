// TypeBox schemas shared by the routes. They validate requests, shape responses and are the
// source of the OpenAPI document, so the docs cannot drift from what the code accepts.

import { Type } from 'typebox';
import { ERROR_CODES } from '../errors.ts';
import { POLICY_LEVELS } from '../vocabulary/policy-levels.ts';

export const ErrorBodySchema = Type.Object(
  {
    transactionId: Type.String({
      description: 'Request id; also in the x-request-id header and the logs.',
    }),
    status: Type.Integer(),
    name: Type.Union(
      ERROR_CODES.map((c) => Type.Literal(c)),
      { description: 'Error code, see docs/errors.md.' },
    ),
    message: Type.String(),
    info: Type.String({ description: 'Where the error code is documented.' }),
    field: Type.Optional(
      Type.String({ description: 'The request field that is wrong (validation errors).' }),
    ),
  },
  { $id: 'ErrorBody', title: 'Error' },
);

export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, Type.Ref('ErrorBody')]));

const RecordStatusSchema = Type.Union([
  Type.Literal('pending'),
  Type.Literal('success'),
  Type.Literal('failed'),
]);

export const DnsRecordSchema = Type.Object({
  hostname: Type.String(),
  type: Type.String(),
  value: Type.String(),
  status: RecordStatusSchema,
  detail: Type.Optional(Type.String()),
  priority: Type.Optional(Type.Integer()),
  warning: Type.Optional(
    Type.String({
      description:
        'Present when the value cannot work as this service is configured (e.g. mx1.localhost): do not publish it yet.',
    }),
  ),
});

export const PolicyLevelSchema = Type.Union(
  POLICY_LEVELS.map((level) => Type.Literal(level)),
  { description: 'Which recipient authentication the account accepts; see SECURITY_POLICY.md.' },
);

export const AccountSchema = Type.Object(
  {
    domain: Type.Object({
      name: Type.String(),
      state: Type.Union([
        Type.Literal('unverified'),
        Type.Literal('valid'),
        Type.Literal('failed'),
      ]),
    }),
    notification_email: Type.String(),
    bounce_subdomain: Type.String(),
    policy_level: PolicyLevelSchema,
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
    receiving_dns_records: Type.Object({ mx: Type.Array(DnsRecordSchema) }),
    sending_dns_records: Type.Object({
      spf: DnsRecordSchema,
      dkim: Type.Array(DnsRecordSchema),
      dmarc: DnsRecordSchema,
      ses: DnsRecordSchema,
    }),
  },
  { $id: 'Account', title: 'Account' },
);

export const CreateAccountSchema = Type.Object(
  {
    domain: Type.String({
      minLength: 1,
      maxLength: 253,
      description: 'Registrable (apex) domain, e.g. example.nl',
    }),
    notification_email: Type.String({
      minLength: 3,
      maxLength: 254,
      description: 'Where refusals and bounces are reported.',
    }),
    bounce_subdomain: Type.Optional(
      Type.String({ minLength: 1, maxLength: 63, default: 'bounce' }),
    ),
    policy_level: Type.Optional(PolicyLevelSchema),
  },
  { additionalProperties: false },
);

export const DomainQuerySchema = Type.Object(
  { domain: Type.String({ minLength: 1, maxLength: 253 }) },
  { additionalProperties: false },
);

export const TokenResponseSchema = Type.Object(
  {
    access_token: Type.String(),
    token_type: Type.Literal('Bearer'),
    expires_in: Type.String({ description: 'Seconds, as a string (KPN style).' }),
    issued_at: Type.String({ description: 'Epoch milliseconds, as a string.' }),
    client_id: Type.String(),
    application_name: Type.String(),
    status: Type.Literal('approved'),
    scope: Type.String(),
    organization_name: Type.String(),
    api_product_list: Type.String(),
    api_product_list_json: Type.Array(Type.String()),
    refresh_token_expires_in: Type.String(),
    refresh_count: Type.String(),
  },
  { $id: 'AccessToken', title: 'AccessToken' },
);
