/**
 * npm start's console on a terminal: lines scroll as usual, and a footer (the
 * quiet log's per-function summary) is redrawn in place below them. So the
 * `ready` line and the token block stay on screen, right above the footer,
 * until a warning or an error is printed. Not a terminal (a pipe, a file,
 * CI): plain lines, no footer, no escape codes.
 */

export interface TerminalOut {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface Terminal {
  readonly isTTY: boolean;
  /** A line above the footer. */
  line(text: string): void;
  /** Replaces the footer (a terminal only; elsewhere it is dropped). */
  footer(lines: string[]): void;
}

const ESC = '\u001b[';
// SGR colour codes take no room on screen.
// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escape codes
const SGR = /\u001b\[[0-9;]*m/g;

/** Cuts a line to the terminal's width (counting visible characters), so that the footer never wraps and redraws in place. */
export const fitToWidth = (text: string, columns: number): string => {
  if (text.replace(SGR, '').length <= columns) return text;
  let visible = 0;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\u001b') {
      const match = /^\u001b\[[0-9;]*m/.exec(text.slice(i));
      if (match) {
        out += match[0];
        i += match[0].length - 1;
        continue;
      }
    }
    if (visible >= columns - 1) break;
    out += text[i];
    visible++;
  }
  return `${out}…${ESC}0m`;
};

export const createTerminal = (out: TerminalOut): Terminal => {
  const isTTY = out.isTTY === true;
  let footer: string[] = [];
  const erase = () => {
    // Up to the footer's first line, column 0, clear to the end of the screen.
    if (footer.length > 0) out.write(`${ESC}${footer.length}A\r${ESC}J`);
  };
  const draw = () => {
    const columns = out.columns ?? 80;
    for (const text of footer) out.write(`${fitToWidth(text, columns)}\n`);
  };
  return {
    isTTY,
    line(text) {
      if (!isTTY) {
        out.write(`${text}\n`);
        return;
      }
      erase();
      out.write(`${text}\n`);
      draw();
    },
    footer(lines) {
      if (!isTTY) return;
      erase();
      footer = [...lines];
      draw();
    },
  };
};
