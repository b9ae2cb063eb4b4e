// One place that binds htm to Preact, so every page writes `html\`<div>…</div>\`` (tagged
// templates, no build step) and imports the two libraries by the URLs the service gives them.

import htm from '../vendor/htm.mjs';
import { Component, createRef, Fragment, h, render } from '../vendor/preact.mjs';

export const html = htm.bind(h);
export { Component, createRef, Fragment, render };
