/** A tiny element builder: enough for a page without a framework. */
type Attrs = Record<string, string | number | boolean | undefined | ((event: Event) => void)>;

export const h = <K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] => {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') el.addEventListener(key.replace(/^on/, ''), value);
    else if (key === 'class') el.className = String(value);
    // Through the CSSOM, not the attribute: a Content-Security-Policy without 'unsafe-inline' allows only this.
    else if (key === 'style') el.style.cssText = String(value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  el.append(...children);
  return el;
};

/** Sets text only when it changed: cheap at 60 frames/s and leaves text selection alone. */
export const setText = (el: Element, text: string): void => {
  if (el.textContent !== text) el.textContent = text;
};

export const setAttr = (el: Element, name: string, value: string): void => {
  if (el.getAttribute(name) !== value) el.setAttribute(name, value);
};

export const byTestId = <T extends HTMLElement = HTMLElement>(id: string, root: ParentNode = document): T => {
  const el = root.querySelector<T>(`[data-testid="${id}"]`);
  if (!el) throw new Error(`index.html lacks [data-testid="${id}"]`);
  return el;
};
