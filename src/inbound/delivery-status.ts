// The machine-readable part of a delivery status notification (RFC 3464 section 2): a
// block of per-message fields, then one block per recipient, blocks separated by blank
// lines, each field a header-style `Name: value` that may be folded over several lines.

export type DsnAction = 'failed' | 'delayed' | 'delivered' | 'relayed' | 'expanded';
const ACTIONS: readonly DsnAction[] = ['failed', 'delayed', 'delivered', 'relayed', 'expanded'];

export interface DsnRecipientReport {
  /** The address as the reporting MTA saw it (`Final-Recipient`), lower-cased. */
  finalRecipient: string | null;
  /** The address as we gave it (`Original-Recipient`), when the MTA kept it. */
  originalRecipient: string | null;
  action: DsnAction;
  /** The enhanced status code (RFC 3463), e.g. `5.1.1`. */
  status: string | null;
  /** The remote server's own words (`Diagnostic-Code`), without the `smtp;` type. */
  diagnostic: string | null;
  remoteMta: string | null;
}

export interface DeliveryStatus {
  reportingMta: string | null;
  recipients: DsnRecipientReport[];
}

/** RFC 3463: class.subject.detail, each of subject and detail at most three digits. */
export const ENHANCED_STATUS = /^([245])\.(\d{1,3})\.(\d{1,3})$/;
/** Keeps stored diagnostics readable and bounded; the raw message has the full text. */
export const MAX_DIAGNOSTIC_LENGTH = 1000;

type Fields = Map<string, string>;

/** Parses the text of a message/delivery-status part. Malformed recipient blocks are skipped. */
export function parseDeliveryStatus(text: string): DeliveryStatus {
  const blocks = splitBlocks(text);
  const first = blocks[0];
  const perMessage = first !== undefined && !isRecipientBlock(first) ? first : new Map();
  const recipients: DsnRecipientReport[] = [];
  for (const block of blocks) {
    if (!isRecipientBlock(block)) continue;
    const action = parseAction(block.get('action'));
    if (action === undefined) continue;
    recipients.push({
      finalRecipient: address(block.get('final-recipient')),
      originalRecipient: address(block.get('original-recipient')),
      action,
      status: parseStatus(block.get('status')),
      diagnostic: typedValue(block.get('diagnostic-code')),
      remoteMta: typedValue(block.get('remote-mta')),
    });
  }
  return { reportingMta: typedValue(perMessage.get('reporting-mta')), recipients };
}

function isRecipientBlock(block: Fields): boolean {
  return block.has('final-recipient') || block.has('action');
}

function splitBlocks(text: string): Fields[] {
  const blocks: Fields[] = [];
  let current: Fields = new Map();
  let last: string | undefined;
  for (const line of text.replace(/\r\n?/g, '\n').split('\n')) {
    if (line.trim() === '') {
      if (current.size > 0) blocks.push(current);
      current = new Map();
      last = undefined;
      continue;
    }
    if (/^[ \t]/.test(line)) {
      // A folded continuation of the previous field.
      if (last !== undefined) current.set(last, `${current.get(last) ?? ''} ${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    last = line.slice(0, colon).trim().toLowerCase();
    // The first occurrence wins: a repeated field is malformed and should not override.
    if (!current.has(last)) current.set(last, line.slice(colon + 1).trim());
    else last = undefined;
  }
  if (current.size > 0) blocks.push(current);
  return blocks;
}

function parseAction(value: string | undefined): DsnAction | undefined {
  const word = value
    ?.trim()
    .split(/[\s(;]/)[0]
    ?.toLowerCase();
  return ACTIONS.find((a) => a === word);
}

export function parseStatus(value: string | undefined): string | null {
  const code = value?.trim().split(/[\s(]/)[0];
  return code !== undefined && ENHANCED_STATUS.test(code) ? code : null;
}

/** `type; value` (RFC 3464 address-type / diagnostic-type / mta-name-type): the value. */
function typedValue(value: string | undefined): string | null {
  if (value === undefined) return null;
  const semicolon = value.indexOf(';');
  const text = (semicolon >= 0 ? value.slice(semicolon + 1) : value).trim();
  return text === '' ? null : text.slice(0, MAX_DIAGNOSTIC_LENGTH);
}

function address(value: string | undefined): string | null {
  const text = typedValue(value);
  if (text === null) return null;
  return text.replace(/^<|>$/g, '').toLowerCase();
}
