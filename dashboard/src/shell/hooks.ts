/**
 * Where other panels plug into the page (docs/decisions/012-dashboard-page-structure.md). The shell owns the
 * layout; a panel module (the alarms panel, for one) finds its mount points here and registers callbacks,
 * without editing main.ts:
 *
 *   import { mounts, onDeviceArea, setAlarmSource } from './shell/hooks.js';
 *   mounts.alarmsPanel()           // <aside id="alarms-panel">, hidden until a panel shows it
 *   mounts.headerAlarms()          // <div id="header-alarms"> in the header: the active-alarms count
 *   onDeviceArea((deviceId, el) => …)  // each device card's <div class="device-alarms">, once per card
 *   setAlarmSource({ inAlarm: (id) => … , onChange })  // the fleet table's "in alarm" state
 */
import { byTestId } from '../view/dom.js';

export const mounts = {
  /** The alarms panel (list, rule editor): a full-width region under the header. */
  alarmsPanel: (): HTMLElement => byTestId('alarms-panel'),
  /** The header's active-alarms slot. */
  headerAlarms: (): HTMLElement => byTestId('header-alarms'),
};

export type DeviceAreaHook = (deviceId: string, area: HTMLElement) => void;

const deviceAreaHooks: DeviceAreaHook[] = [];
const areas = new Map<string, HTMLElement>();

/** Calls `hook` for every device card's alarm area, those on the page now and every later one. */
export const onDeviceArea = (hook: DeviceAreaHook): void => {
  deviceAreaHooks.push(hook);
  for (const [deviceId, area] of areas) hook(deviceId, area);
};

/** The device page calls this when it creates a card (../device/devicePage.ts). */
export const announceDeviceArea = (deviceId: string, area: HTMLElement): void => {
  areas.set(deviceId, area);
  for (const hook of deviceAreaHooks) hook(deviceId, area);
};

export const forgetDeviceArea = (deviceId: string): void => {
  areas.delete(deviceId);
};

export interface AlarmSource {
  inAlarm(deviceId: string): boolean;
}

let alarmSource: AlarmSource | undefined;
const alarmListeners: (() => void)[] = [];

/** The alarms module says which devices are in alarm; call `alarmsChanged()` whenever that changes. */
export const setAlarmSource = (source: AlarmSource): void => {
  alarmSource = source;
  alarmsChanged();
};

export const alarmsChanged = (): void => {
  for (const listener of alarmListeners) listener();
};

export const inAlarm = (deviceId: string): boolean => alarmSource?.inAlarm(deviceId) ?? false;

/** The shell redraws the fleet when alarms change. */
export const onAlarmsChanged = (listener: () => void): void => {
  alarmListeners.push(listener);
};
