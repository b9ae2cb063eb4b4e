// A confirmation for actions that cannot be undone (deleting a domain, removing a webhook),
// as a native modal <dialog>: it traps the focus, closes with Escape and returns the focus
// to the button that opened it. With `typeToConfirm`, the action stays disabled until the
// person types that text (the domain name), so a slip of the mouse deletes nothing.

import { Component, createRef, html } from '../lib/html.js';

let instances = 0;

export class ConfirmButton extends Component {
  dialog = createRef();
  id = `confirm-${++instances}`;
  state = { typed: '', busy: false };

  open = () => {
    this.setState({ typed: '' });
    this.dialog.current.showModal();
  };

  close = () => this.dialog.current.close();

  confirm = async (event) => {
    event.preventDefault();
    this.setState({ busy: true });
    try {
      await this.props.onConfirm();
    } finally {
      this.setState({ busy: false });
      if (this.dialog.current?.open) this.close();
    }
  };

  render(
    { label, title, children, typeToConfirm, action = label, tone = 'danger' },
    { typed, busy },
  ) {
    const ready = typeToConfirm === undefined || typed.trim() === typeToConfirm;
    return html`<span>
      <button type="button" class=${`button-${tone}`} onClick=${this.open}>${label}</button>
      <dialog ref=${this.dialog} aria-labelledby=${`${this.id}-title`}>
        <form method="dialog" onSubmit=${this.confirm}>
          <h2 id=${`${this.id}-title`}>${title}</h2>
          ${children}
          ${
            typeToConfirm !== undefined &&
            html`<div class="field">
            <label for=${`${this.id}-text`}>Type <strong>${typeToConfirm}</strong> to confirm</label>
            <input id=${`${this.id}-text`} autocomplete="off" value=${typed}
              onInput=${(e) => this.setState({ typed: e.currentTarget.value })} />
          </div>`
          }
          <div class="actions">
            <button type="submit" class=${`button-${tone}`} disabled=${!ready || busy}>${action}</button>
            <button type="button" class="button-secondary" onClick=${this.close}>Cancel</button>
          </div>
        </form>
      </dialog>
    </span>`;
  }
}
