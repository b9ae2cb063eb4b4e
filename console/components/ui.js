// Small building blocks shared by the pages: status badges, notices, copy buttons, form
// fields that show the API's validation message next to the field it names, and a picker of
// the tenant's domains.

import { Component, createRef, html } from '../lib/html.js';

export function Badge({ tone = 'neutral', children }) {
  return html`<span class=${`badge badge-${tone}`}>${children}</span>`;
}

/** An error or a success message. Errors are announced by screen readers (role=alert). */
export function Notice({ tone = 'info', children }) {
  const role = tone === 'error' ? 'alert' : 'status';
  return html`<div class=${`notice notice-${tone}`} role=${role}>${children}</div>`;
}

/** An API error in words a person can act on. */
export function ErrorNotice({ error }) {
  if (!error) return null;
  const text =
    error.status === 0 || error instanceof TypeError
      ? 'The service cannot be reached. Check the connection and try again.'
      : error.message;
  return html`<${Notice} tone="error">${text}<//>`;
}

export function Loading({ what = 'Loading' }) {
  return html`<p class="loading" role="status">${what}…</p>`;
}

/** Copies `text`; says so for screen readers too. */
export class CopyButton extends Component {
  state = { copied: false };

  copy = async () => {
    const text = this.props.text;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // No clipboard API (a page served over plain HTTP from another machine): select and copy.
      const area = document.createElement('textarea');
      area.value = text;
      area.setAttribute('readonly', '');
      area.className = 'offscreen';
      document.body.append(area);
      area.select();
      document.execCommand('copy');
      area.remove();
    }
    this.setState({ copied: true });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.setState({ copied: false }), 2000);
  };

  componentWillUnmount() {
    clearTimeout(this.timer);
  }

  render({ label = 'Copy' }, { copied }) {
    return html`<button type="button" class="button-small copy" onClick=${this.copy}
      aria-label=${this.props.describe ? `${label} ${this.props.describe}` : label}>
      ${copied ? 'Copied' : label}
    </button><span class="offscreen" aria-live="polite">${copied ? 'Copied to the clipboard' : ''}</span>`;
  }
}

/**
 * A labelled form field. `error` is the API error when its `field` is `name` (or starts with
 * `name.`): the message is then shown under the field and tied to it for screen readers.
 */
export function Field({ id, label, hint, error, name, children }) {
  const mine =
    error?.field !== undefined && (error.field === name || error.field.startsWith(`${name}.`));
  const describedBy = [hint ? `${id}-hint` : '', mine ? `${id}-error` : ''].join(' ').trim();
  return html`<div class=${`field${mine ? ' field-invalid' : ''}`}>
    <label for=${id}>${label}</label>
    ${hint && html`<p class="hint" id=${`${id}-hint`}>${hint}</p>`}
    ${children({ id, 'aria-describedby': describedBy || undefined, 'aria-invalid': mine ? 'true' : undefined })}
    ${mine && html`<p class="field-error" id=${`${id}-error`}>${error.message}</p>`}
  </div>`;
}

/** An error that no field of the form claims, shown above the form. */
export function FormError({ error, fields }) {
  if (!error) return null;
  const claimed =
    error.field !== undefined &&
    fields.some((f) => error.field === f || error.field.startsWith(`${f}.`));
  return claimed
    ? html`<${Notice} tone="error">Please correct the field marked below.<//>`
    : html`<${ErrorNotice} error=${error} />`;
}

/** A select of the tenant's domains (GET /accounts), for pages that work per domain. */
export class DomainPicker extends Component {
  render({ accounts, value, onChange, id = 'domain', label = 'Domain', allowAll = false }) {
    return html`<div class="field field-inline">
      <label for=${id}>${label}</label>
      <select id=${id} value=${value} onChange=${(e) => onChange(e.currentTarget.value)}>
        ${allowAll && html`<option value="">All domains</option>`}
        ${accounts.map((a) => html`<option value=${a.domain}>${a.domain}</option>`)}
      </select>
    </div>`;
  }
}

/** Loads data with `load()` and shows loading and error states; pages extend it. */
export class Page extends Component {
  state = { data: undefined, error: undefined, loading: true };

  componentDidMount() {
    this.reload();
  }

  async reload() {
    this.setState({ loading: this.state.data === undefined });
    try {
      const data = await this.load();
      this.setState({ data, error: undefined, loading: false });
    } catch (error) {
      this.setState({ error, loading: false });
    }
  }

  /** What the page shows while it has data. */
  body() {
    return null;
  }

  render() {
    const { data, error, loading } = this.state;
    return html`<section class="page">
      <${PageTitle} title=${this.title()} />
      ${this.intro?.()}
      ${error && html`<${ErrorNotice} error=${error} />`}
      ${loading ? html`<${Loading} />` : data !== undefined && this.body(data)}
    </section>`;
  }
}

/** The page's heading; it takes the focus when a page opens, so keyboard and screen reader users start there. */
export class PageTitle extends Component {
  heading = createRef();

  componentDidMount() {
    document.title = `${this.props.title} · SecureMail`;
    this.heading.current?.focus();
  }

  render({ title }) {
    return html`<h1 tabindex="-1" ref=${this.heading}>${title}</h1>`;
  }
}
