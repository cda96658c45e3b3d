/** Stable colours per field name, readable on light and dark backgrounds. */
// A Map, not an object literal: field names come from devices, and "__defineGetter__", "constructor"
// or "toString" would find Object.prototype's functions on a plain object.
const KNOWN = new Map<string, string>([
  ['temperature', '#e8590c'],
  ['humidity', '#1c7ed6'],
  ['battery', '#2f9e44'],
  ['pressure', '#ae3ec9'],
  ['voltage', '#f08c00'],
  ['rssi', '#0c8599'],
]);
const PALETTE = ['#d6336c', '#5c7cfa', '#12b886', '#fab005', '#7950f2', '#fd7e14', '#15aabf', '#82c91e'];

export const fieldColor = (field: string): string => {
  const known = KNOWN.get(field);
  if (known) return known;
  let hash = 0;
  for (let i = 0; i < field.length; i++) hash = (hash * 31 + field.charCodeAt(i)) >>> 0;
  return PALETTE[hash % PALETTE.length] as string;
};
