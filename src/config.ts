// The whole configuration: every module's settings, composed and frozen. Each module
// declares its own (name, default, range, doc line) in its settings.ts; this file only reads
// them in order and puts them together, once, at start-up. A wrong value stops the process
// with a message that names the variable; nothing but src/main.ts reads `process.env`.

import {
  ACCOUNT_SETTINGS,
  type AccountSettings,
  checkVerificationSchedule,
  VERIFICATION_SETTINGS,
  type VerificationSchedule,
} from './accounts/settings.ts';
import { API_SETTINGS, type ApiSettings } from './api/settings.ts';
import { DELIVERY_SETTINGS, type DeliverySettings } from './delivery/settings.ts';
import { DNS_SETTINGS, type DnsSettings } from './dns/settings.ts';
import { INBOUND_SETTINGS, type InboundConfig, loadInboundConfig } from './inbound/settings.ts';
import { SENDING_SETTINGS, type SendingConfig } from './messages/settings.ts';
import { METRICS_SETTINGS, type MetricsSettings } from './metrics/settings.ts';
import {
  loadWebhookConfig,
  NOTICE_SETTINGS,
  type NoticeSettings,
  WEBHOOK_SETTINGS,
  type WebhookConfig,
} from './notify/settings.ts';
import { PRIVACY_SETTINGS, type PrivacySettings } from './privacy/settings.ts';
import { RETENTION_SETTINGS, type RetentionSettings } from './recipients/settings.ts';
import { SECRETS_SETTINGS, type SecretsSettings } from './secrets/settings.ts';
import { type OutboundSecurityConfig, SECURITY_SETTINGS } from './security/settings.ts';
import { SERVICE_SETTINGS, type ServiceSettings } from './service-settings.ts';
import { ConfigError, type Declarations, type Env, readSettings } from './settings.ts';
import { readStoreSettings, STORE_SETTINGS, type StoreSettings } from './store/settings.ts';

export { ConfigError };

export type Role = 'api' | 'worker' | 'mx';
export const ALL_ROLES: readonly Role[] = ['api', 'worker', 'mx'];

export interface Config
  extends StoreSettings,
    ServiceSettings,
    ApiSettings,
    AccountSettings,
    DnsSettings,
    SecretsSettings,
    MetricsSettings {
  sending: SendingConfig;
  delivery: DeliverySettings & RetentionSettings;
  security: OutboundSecurityConfig;
  inbound: InboundConfig;
  webhooks: WebhookConfig;
  notices: NoticeSettings;
  verification: VerificationSchedule;
  privacy: PrivacySettings;
}

/** Every module's declarations, in the order they are read; the docs test walks them. */
export const SETTING_DECLARATIONS: readonly Declarations[] = [
  STORE_SETTINGS,
  SERVICE_SETTINGS,
  ACCOUNT_SETTINGS,
  DNS_SETTINGS,
  SECURITY_SETTINGS,
  API_SETTINGS,
  SENDING_SETTINGS,
  DELIVERY_SETTINGS,
  RETENTION_SETTINGS,
  INBOUND_SETTINGS,
  WEBHOOK_SETTINGS,
  NOTICE_SETTINGS,
  VERIFICATION_SETTINGS,
  SECRETS_SETTINGS,
  METRICS_SETTINGS,
  PRIVACY_SETTINGS,
];

/** Reads and validates the whole configuration. Throws `ConfigError` on the first bad value. */
export function loadConfig(env: Env, cwd: string = process.cwd()): Readonly<Config> {
  const base = { cwd, hostname: '' };
  const store = readStoreSettings(env, base);
  const service = readSettings(SERVICE_SETTINGS, env, base);
  // The MX host names default to names under the platform's host name.
  const context = { cwd, hostname: service.hostname };
  const config: Config = {
    ...store,
    ...service,
    ...readSettings(ACCOUNT_SETTINGS, env, context),
    ...readSettings(DNS_SETTINGS, env, context),
    security: readSettings(SECURITY_SETTINGS, env, context),
    ...readSettings(API_SETTINGS, env, context),
    sending: readSettings(SENDING_SETTINGS, env, context),
    delivery: {
      ...readSettings(DELIVERY_SETTINGS, env, context),
      ...readSettings(RETENTION_SETTINGS, env, context),
    },
    inbound: loadInboundConfig(env, context),
    webhooks: loadWebhookConfig(env),
    notices: readSettings(NOTICE_SETTINGS, env, context),
    verification: checkVerificationSchedule(readSettings(VERIFICATION_SETTINGS, env, context)),
    ...readSettings(SECRETS_SETTINGS, env, context),
    ...readSettings(METRICS_SETTINGS, env, context),
    privacy: readSettings(PRIVACY_SETTINGS, env, context),
  };
  return deepFreeze(config);
}

function deepFreeze<T extends object>(value: T): Readonly<T> {
  for (const inner of Object.values(value)) {
    if (inner !== null && typeof inner === 'object') deepFreeze(inner as object);
  }
  return Object.freeze(value);
}
