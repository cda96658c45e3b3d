/**
 * The page's views and its address. The fleet is the default; `?devices=a,b` opens those devices' charts
 * side by side (the pin list; opening one row is `?devices=<id>`); `?devices=*` opens every device's chart
 * (the old grid: for a small fleet). Moving between views keeps the socket and
 * every other parameter (`?url=`, `?range=`, …); the browser's back button goes back a view.
 */
export type Route = { view: 'fleet' } | { view: 'devices'; ids: string[]; all?: boolean };

export const parseRoute = (search: string): Route => {
  const devices = new URLSearchParams(search).get('devices');
  if (devices?.trim() === '*') return { view: 'devices', ids: [], all: true };
  const ids = devices ? [...new Set(devices.split(',').map((d) => d.trim()).filter((d) => d !== ''))] : [];
  return ids.length > 0 ? { view: 'devices', ids } : { view: 'fleet' };
};

/** The address of `route`, keeping every other parameter of `href`. */
export const routeHref = (href: string, route: Route): string => {
  const url = new URL(href);
  if (route.view === 'devices') url.searchParams.set('devices', route.all ? '*' : route.ids.join(','));
  else url.searchParams.delete('devices');
  // Commas stay readable: ?devices=a,b as people type it.
  return `${url.pathname}${url.search.replaceAll('%2C', ',').replaceAll('%2A', '*')}${url.hash}`;
};

export class Router {
  private listeners: ((route: Route) => void)[] = [];
  current: Route;

  constructor(private readonly win: Pick<Window, 'location' | 'history' | 'addEventListener'> = window) {
    this.current = parseRoute(win.location.search);
    win.addEventListener('popstate', () => this.set(parseRoute(this.win.location.search)));
  }

  onChange(listener: (route: Route) => void): void {
    this.listeners.push(listener);
  }

  go(route: Route): void {
    this.win.history.pushState(null, '', routeHref(this.win.location.href, route));
    this.set(route);
  }

  private set(route: Route): void {
    this.current = route;
    for (const listener of this.listeners) listener(route);
  }
}
