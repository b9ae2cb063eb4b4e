// Send: a compose form for a test or one-off message. It posts the message in parts
// (POST /message with subject, text, html, attachments) and the service composes the MIME.
// Delivery goes the same secure way as every API message; the result links to its page.

import { Badge, Field, FormError, Notice, Page } from '../components/ui.js';
import { addressList, statusInfo } from '../lib/format.js';
import { html } from '../lib/html.js';
import { href } from '../lib/router.js';

export class SendPage extends Page {
  state = {
    ...this.state,
    form: { sender: '', to: '', subject: '', text: '', html: '', requireTls: false },
    files: [],
    busy: false,
    formError: undefined,
    sent: undefined,
  };

  title() {
    return 'Send a message';
  }

  async load() {
    const { accounts } = await this.props.api.get('/accounts');
    const valid = accounts.filter((a) => a.state === 'valid');
    if (this.state.form.sender === '' && valid.length > 0) {
      this.setState({ form: { ...this.state.form, sender: `info@${valid[0].domain}` } });
    }
    return { accounts, valid };
  }

  set(name, value) {
    this.setState({ form: { ...this.state.form, [name]: value } });
  }

  pickFiles = async (event) => {
    const files = [...event.currentTarget.files];
    const read = await Promise.all(
      files.map(async (file) => ({
        filename: file.name,
        content_type: file.type || undefined,
        content_base64: toBase64(new Uint8Array(await file.arrayBuffer())),
        size: file.size,
      })),
    );
    this.setState({ files: read });
  };

  send = async (event) => {
    event.preventDefault();
    const { form, files } = this.state;
    this.setState({ busy: true, formError: undefined, sent: undefined });
    const body = {
      sender: form.sender.trim(),
      recipients: addressList(form.to),
      subject: form.subject,
      text: form.text,
    };
    if (form.html.trim() !== '') body.html = form.html;
    if (files.length > 0) body.attachments = files.map(({ size, ...f }) => f);
    if (form.requireTls) body.headers = { 'Require-TLS': 'yes' };
    try {
      const sent = await this.props.api.request('POST', '/message', { body });
      this.setState({ busy: false, sent });
    } catch (error) {
      this.setState({ busy: false, formError: error });
    }
  };

  body({ valid }) {
    const { form, files, busy, formError, sent } = this.state;
    // The message of an Error is not enumerable: copied by name, not spread.
    const error = formError && {
      name: formError.name,
      status: formError.status,
      message: formError.message,
      field: fieldOf(formError.field),
    };
    return html`
      ${
        valid.length === 0 &&
        html`<${Notice} tone="warn">None of your domains is valid yet, so nothing can be sent.${' '}<a href=${href('/domains')}>Set up a domain</a> first.<//>`
      }
      ${
        sent &&
        html`<${Notice} tone="success">
        <p>Accepted for delivery: <a href=${href(`/messages/${sent.id}`)}>open the message</a> to follow each recipient.</p>
        <ul class="chips">${sent.recipients.map((r) => html`<li>${r.address} <${Badge} tone=${statusInfo(r.status).tone}>${statusInfo(r.status).label}<//></li>`)}</ul>
      <//>`
      }
      <${FormError} error=${error} fields=${['sender', 'recipients', 'subject', 'text', 'html', 'attachments']} />
      <form class="compose" onSubmit=${this.send} novalidate>
        <${Field} id="send-from" label="From" name="sender" error=${error}
          hint=${`An address in one of your valid domains${valid.length ? `: ${valid.map((a) => a.domain).join(', ')}` : ''}.`}>
          ${(
            a,
          ) => html`<input ...${a} type="email" required value=${form.sender} list="valid-domains"
            onInput=${(e) => this.set('sender', e.currentTarget.value)} />`}
        <//>
        <${Field} id="send-to" label="To" name="recipients" error=${error}
          hint="One or more addresses, separated by commas or new lines. Each is sent separately; several recipients do not see each other.">
          ${(a) => html`<textarea ...${a} rows="2" required spellcheck="false"
            value=${form.to} onInput=${(e) => this.set('to', e.currentTarget.value)}></textarea>`}
        <//>
        <${Field} id="send-subject" label="Subject" name="subject" error=${error}>
          ${(a) => html`<input ...${a} required value=${form.subject}
            onInput=${(e) => this.set('subject', e.currentTarget.value)} />`}
        <//>
        <${Field} id="send-text" label="Message" name="text" error=${error}>
          ${(a) => html`<textarea ...${a} rows="8" required
            value=${form.text} onInput=${(e) => this.set('text', e.currentTarget.value)}></textarea>`}
        <//>
        <details>
          <summary>HTML version and attachments (optional)</summary>
          <${Field} id="send-html" label="HTML version" name="html" error=${error}
            hint="Sent next to the plain text; mail programs show one of the two.">
            ${(a) => html`<textarea ...${a} rows="6" spellcheck="false"
              value=${form.html} onInput=${(e) => this.set('html', e.currentTarget.value)}></textarea>`}
          <//>
          <${Field} id="send-files" label="Attachments" name="attachments" error=${error}>
            ${(a) => html`<input ...${a} type="file" multiple onChange=${this.pickFiles} />`}
          <//>
          ${files.length > 0 && html`<ul class="files">${files.map((f) => html`<li>${f.filename} (${Math.ceil(f.size / 1024)} KB)</li>`)}</ul>`}
        </details>
        <div class="field">
          <label class="inline"><input type="checkbox" checked=${form.requireTls}
            onChange=${(e) => this.set('requireTls', e.currentTarget.checked)} />
            Require REQUIRETLS (RFC 8689): every server on the way must keep the message encrypted</label>
        </div>
        <div class="actions">
          <button type="submit" disabled=${busy || valid.length === 0}>${busy ? 'Sending…' : 'Send'}</button>
        </div>
      </form>
      <datalist id="valid-domains">${valid.map((a) => html`<option value=${`info@${a.domain}`} />`)}</datalist>`;
  }
}

/** The composed message's problems (the service names `message`) belong to the text field. */
function fieldOf(field) {
  return field === 'message' || field === 'message_base64' ? 'text' : field;
}

function toBase64(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}
