/** Listening on the configured ports, with an error that says which variable to change. */

export class PortInUseError extends Error {
  override name = 'PortInUseError';
  constructor(
    readonly port: number,
    readonly variable: string,
    readonly service: string,
  ) {
    super(`port ${port} (${service}) is already in use: stop what is using it, or choose another port with ${variable}, e.g. ${variable}=${port + 10} npm start`);
  }
}

export class PortAccessError extends Error {
  override name = 'PortAccessError';
  constructor(
    readonly port: number,
    readonly variable: string,
    readonly service: string,
  ) {
    super(`port ${port} (${service}) needs privileges this process lacks: choose a port above 1023 with ${variable}`);
  }
}

/** Runs `listen`, turning EADDRINUSE and EACCES into errors that name the port's variable. */
export const listenOn = async (listen: () => Promise<number>, port: number, variable: string, service: string): Promise<number> => {
  try {
    return await listen();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new PortInUseError(port, variable, service);
    if (code === 'EACCES') throw new PortAccessError(port, variable, service);
    throw error;
  }
};
