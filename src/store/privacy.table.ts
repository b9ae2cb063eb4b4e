// Row types of the privacy tables (privacy.migration.ts): the record of each erasure made for
// a data subject (GDPR art. 17). It says when, for which account, by which client and how
// many rows of each table changed, and never the address: a log of erasures that named the
// erased would undo them.

export interface ErasuresTable {
  id: string;
  account_id: string;
  /** The OAuth client (tenant) that asked, or the account's own client when an operator did. */
  client_id: string;
  /** `api` or `cli`. */
  requested_via: string;
  erased_at: number;
  /** JSON: table -> rows removed or anonymised, e.g. {"recipients": 3, "attempts": 4}. */
  counts_json: string;
}

export interface PrivacyTables {
  erasures: ErasuresTable;
}
