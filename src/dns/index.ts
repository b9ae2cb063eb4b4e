// The DNS client's public surface. Other modules import from here, not from the parts.

export {
  createResolver,
  DEFAULT_ATTEMPTS,
  DEFAULT_MAX_CNAME_CHAIN,
  DEFAULT_TIMEOUT_MS,
  type DnsClient,
  MAX_CACHE_TTL_SECONDS,
  MAX_NEGATIVE_TTL_SECONDS,
  RECORD_TYPES,
  type ResolverOptions,
} from './client.ts';
export { MAX_LABEL_LENGTH, MAX_NAME_LENGTH, normaliseName } from './names.ts';
export { defaultServers, RESOLV_CONF_PATH, readResolvConf } from './resolv-conf.ts';
export { DNS_PORT, parseServerList } from './server-list.ts';
export {
  AD_TRUST_MODES,
  type AdTrust,
  type DnsAnswer,
  type DnsOutcome,
  type DnsServer,
  describeAnswer,
  describeFailure,
  type MxRecord,
  type RecordData,
  type RecordType,
  type Resolver,
  type ResolverServer,
  serverAddress,
  type TlsaRecord,
} from './types.ts';
export {
  daneAvailable,
  probeResolvers,
  type ResolverProbe,
  trustsAd,
} from './validation-probe.ts';
