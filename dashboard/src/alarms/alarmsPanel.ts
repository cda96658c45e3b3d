/**
 * The alarms panel: active alarms first (with Acknowledge), then recent
 * transitions, the rules with a rule editor, and the tab title and favicon
 * showing the count of active alarms, so that a background tab tells at a
 * glance. It builds its own DOM (above the device list) and speaks the alarm
 * frames (README, "Alarms") through `send`.
 */
import { type AlarmFrame, AlarmState, ruleTitle } from './alarmState.js';
import { chartAlarms } from './chartOverlay.js';

type Send = (frame: Record<string, unknown>) => void;

/** Echoed on the error frames that answer this panel's requests. */
const REQUEST_ID = 'alarms-panel';
const TRANSITIONS_REQUEST_PREFIX = 'chart-alarms-';

const el = <K extends keyof HTMLElementTagNameMap>(tag: K, props: Record<string, unknown> & { testid?: string } = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] => {
  const { testid, ...rest } = props;
  const node: HTMLElementTagNameMap[K] = Object.assign(document.createElement(tag), rest);
  if (testid) node.dataset.testid = testid;
  node.append(...children);
  return node;
};

const time = (ms: number) => new Date(ms).toLocaleTimeString();

/** A favicon with the count on a red disc (or the page's own icon at 0). */
export const badgeIcon = (count: number): string => {
  const text = count > 99 ? '99+' : String(count);
  const svg = `<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'><circle cx='8' cy='8' r='8' fill='#e03131'/><text x='8' y='12' font-size='${text.length > 1 ? 8 : 11}' text-anchor='middle' fill='white' font-family='sans-serif' font-weight='bold'>${text}</text></svg>`;
  return `data:image/svg+xml,${encodeURIComponent(svg)}`;
};

export class AlarmsPanel {
  readonly state = new AlarmState();
  private readonly root: HTMLElement;
  private readonly activeList: HTMLElement;
  private readonly recentList: HTMLElement;
  private readonly rulesList: HTMLElement;
  private readonly message: HTMLElement;
  private readonly form: HTMLFormElement;
  private readonly baseTitle = document.title;
  private readonly baseIcon = document.querySelector<HTMLLinkElement>('link[rel="icon"]')?.href ?? '';
  private shownCount = -1;
  private pending = false;
  private readonly send: Send;

  constructor(
    send: Send,
    /** The shell's mount point (shell/hooks.ts `mounts.alarmsPanel()`): the panel fills it and shows it. */
    mount: HTMLElement,
    /** After every change of rules or alarms: the shell updates the header and the fleet's "in alarm" state. */
    private readonly onChange: (state: AlarmState) => void = () => undefined,
  ) {
    this.send = (frame) => send({ ...frame, requestId: REQUEST_ID });
    chartAlarms.state = this.state;
    const input = (name: string, placeholder: string, inputMode?: string): HTMLInputElement => {
      const node = document.createElement('input');
      node.name = name;
      node.placeholder = placeholder;
      node.spellcheck = false;
      node.dataset.testid = `alarm-rule-${name}`;
      node.setAttribute('aria-label', placeholder);
      if (inputMode) node.inputMode = inputMode;
      return node;
    };
    const condition = el('select', { name: 'condition', testid: 'alarm-rule-condition' }, el('option', { value: 'above', textContent: 'above' }), el('option', { value: 'below', textContent: 'below' }));
    this.form = el(
      'form',
      { className: 'alarm-rule-form', testid: 'alarm-rule-form', autocomplete: 'off' },
      input('device', 'device id'),
      input('field', 'field (e.g. temperature)'),
      condition,
      input('threshold', 'threshold', 'decimal'),
      input('for', 'for (s)', 'numeric'),
      input('name', 'name (optional)'),
      el('button', { type: 'submit', textContent: 'Add rule' }),
    );
    this.activeList = el('ul', { className: 'alarm-active', testid: 'alarm-active-list' });
    this.recentList = el('ul', { className: 'alarm-recent', testid: 'alarm-recent-list' });
    this.rulesList = el('ul', { className: 'alarm-rules', testid: 'alarm-rules' });
    this.message = el('p', { className: 'alarm-message', testid: 'alarm-message' });
    this.root = el(
      'section',
      { className: 'alarms-panel', testid: 'alarms-panel' },
      el('h2', { textContent: 'Alarms' }),
      this.activeList,
      el('h3', { textContent: 'Recent transitions' }),
      this.recentList,
      el('h3', { textContent: 'Rules' }),
      this.rulesList,
      this.form,
      this.message,
    );
    mount.append(this.root);
    mount.hidden = false;
    // A device card's "Alarm rule" button: the editor, for that device.
    document.addEventListener('alarm-rule-edit', (event) => {
      this.editRuleFor((event as CustomEvent<{ deviceId: string }>).detail.deviceId);
      this.root.scrollIntoView({ block: 'nearest' });
    });
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.submitRule();
    });
    this.root.addEventListener('click', (event) => {
      const button = (event.target as HTMLElement).closest<HTMLButtonElement>('button[data-action]');
      if (!button) return;
      if (button.dataset.action === 'ack') this.send({ action: 'ackAlarm', ruleId: button.dataset.ruleId, deviceId: button.dataset.deviceId });
      if (button.dataset.action === 'delete') this.send({ action: 'deleteAlarmRule', id: button.dataset.ruleId });
    });
    this.render();
  }

  /** The socket opened: ask for the rules and the active alarms. */
  onOpen(): void {
    this.send({ action: 'alarms' });
  }

  /**
   * A device's transitions in [since, until] for its charts' marks (docs/asyncapi.yaml, alarmsRequest with
   * `deviceId`): the reply is an `alarms` frame that also renews the rules and active alarms.
   */
  askTransitions(deviceId: string, since: number, until: number): void {
    this.send({ action: 'alarms', deviceId, since: Math.floor(since), until: Math.ceil(until), requestId: `${TRANSITIONS_REQUEST_PREFIX}${deviceId}`.slice(0, 128) });
  }

  /** Prefills the editor for a device (a device card's "rule" button can call it). */
  editRuleFor(deviceId: string, field?: string): void {
    (this.form.elements.namedItem('device') as HTMLInputElement).value = deviceId;
    if (field) (this.form.elements.namedItem('field') as HTMLInputElement).value = field;
    (this.form.elements.namedItem(field ? 'threshold' : 'field') as HTMLInputElement).focus();
  }

  /**
   * A frame's text: true when it was one of the alarm family (consumed here). Alarm frames start with
   * `{"type":"alarm` (the server writes `type` first), so other frames are not parsed twice.
   */
  receive(text: unknown): boolean {
    if (typeof text === 'string' && text.startsWith('{"type":"error"') && text.includes(`"requestId":"${REQUEST_ID}"`)) {
      // This panel's refusal (a bad rule, nothing to acknowledge): shown here, never taken for the connection's.
      this.pending = false;
      this.say((JSON.parse(text) as { message: string }).message, true);
      return true;
    }
    if (typeof text === 'string' && text.startsWith('{"type":"error"') && text.includes(`"requestId":"${TRANSITIONS_REQUEST_PREFIX}`)) {
      // A chart's marks could not be read (a device out of scope): the chart simply has none.
      return true;
    }
    if (typeof text !== 'string' || !text.startsWith('{"type":"alarm')) return false;
    let frame: Record<string, unknown>;
    try {
      frame = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return false;
    }
    if (!this.state.receive(frame)) return false;
    if (frame.type === 'alarm-rule') {
      this.pending = false;
      this.form.reset();
      this.say(`Rule added: ${ruleTitle(frame.rule as never, '')}`);
    }
    this.render();
    return true;
  }

  private submitRule(): void {
    const value = (name: string) => (this.form.elements.namedItem(name) as HTMLInputElement | HTMLSelectElement).value.trim();
    const threshold = Number(value('threshold'));
    const forSeconds = value('for') === '' ? undefined : Number(value('for'));
    const rule: Record<string, unknown> = {
      deviceId: value('device'),
      field: value('field'),
      // A threshold that is not a number goes as typed: the server's bad_request says why.
      [value('condition')]: value('threshold') !== '' && Number.isFinite(threshold) ? threshold : value('threshold'),
      ...(forSeconds !== undefined ? { forSeconds } : {}),
      ...(value('name') ? { name: value('name') } : {}),
    };
    this.pending = true;
    this.send({ action: 'putAlarmRule', rule });
  }

  private say(text: string, error = false): void {
    this.message.textContent = text;
    this.message.dataset.error = String(error);
  }

  private row(a: AlarmFrame, withAck: boolean): HTMLLIElement {
    const rule = this.state.rules.get(a.ruleId);
    const li = el(
      'li',
      { testid: withAck ? 'alarm-active' : 'alarm-recent' },
      el('span', { className: `alarm-state state-${a.state.toLowerCase()}`, textContent: a.state }),
      ` ${a.deviceId} · ${ruleTitle(rule, a.ruleId)}${a.value !== null ? ` · ${a.value}` : ''} · since ${time(a.since)}`,
      a.acknowledgedBy ? el('span', { className: 'alarm-ack', testid: 'alarm-acknowledged', textContent: ` acknowledged by ${a.acknowledgedBy}` }) : '',
    );
    Object.assign(li.dataset, { state: a.state, ruleId: a.ruleId, deviceId: a.deviceId });
    if (withAck && a.state === 'ALARM' && !a.acknowledgedBy) {
      const button = el('button', { type: 'button', textContent: 'Acknowledge', testid: 'alarm-ack' });
      Object.assign(button.dataset, { action: 'ack', ruleId: a.ruleId, deviceId: a.deviceId });
      li.append(' ', button);
    }
    return li;
  }

  private render(): void {
    const active = this.state.activeList();
    this.activeList.replaceChildren(...(active.length > 0 ? active.map((a) => this.row(a, true)) : [el('li', { className: 'none', textContent: 'No active alarm' })]));
    this.recentList.replaceChildren(...this.state.recent.slice(0, 20).map((a) => this.row(a, false)));
    this.rulesList.replaceChildren(
      ...[...this.state.rules.values()].map((r) => {
        const button = el('button', { type: 'button', textContent: 'Delete', testid: 'alarm-rule-delete' });
        Object.assign(button.dataset, { action: 'delete', ruleId: r.id });
        const li = el('li', { testid: 'alarm-rule' }, `${r.deviceId} · ${ruleTitle(r, r.id)} `, button);
        li.dataset.ruleId = r.id;
        return li;
      }),
    );
    const count = this.state.alarmCount();
    this.root.dataset.active = String(count);
    this.onChange(this.state);
    if (count === this.shownCount) return;
    this.shownCount = count;
    document.title = count > 0 ? `(${count}) ${this.baseTitle}` : this.baseTitle;
    const icon = document.querySelector<HTMLLinkElement>('link[rel="icon"]');
    if (icon) icon.href = count > 0 ? badgeIcon(count) : this.baseIcon;
  }
}
