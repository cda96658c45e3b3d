/** Prints rows as an aligned text table: numbers right-aligned, text left-aligned. */

export interface Column<Row> {
  title: string;
  value: (row: Row) => string | number | undefined;
}

const show = (value: string | number | undefined): string => {
  if (value === undefined || (typeof value === 'number' && Number.isNaN(value))) return '-';
  if (typeof value === 'number') return value.toLocaleString('en-US', { maximumFractionDigits: 2 });
  return value;
};

export const formatTable = <Row>(rows: readonly Row[], columns: readonly Column<Row>[]): string => {
  const cells = rows.map((row) => columns.map((c) => c.value(row)));
  const widths = columns.map((c, i) => Math.max(c.title.length, ...cells.map((r) => show(r[i]).length)));
  const numeric = columns.map((_, i) => cells.some((r) => typeof r[i] === 'number'));
  const line = (values: (string | number | undefined)[]) =>
    values
      .map((v, i) => (numeric[i] ? show(v).padStart(widths[i]!) : show(v).padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.title)), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map((r) => line(r))].join('\n');
};
