// Printing a server-side meta.k8s.io/v1 Table the way kubectl does: upper-case headers, aligned columns, cells as
// the server wrote them (a server already turns `date` printer columns into ages such as `5m`, and prints the
// timestamp itself in its default `Created At` column). `humanAge` is for what the client words itself (events).

export interface Table {
  columnDefinitions: { name: string; type: string; format?: string; priority?: number }[];
  rows: { cells: unknown[]; object?: { metadata?: { namespace?: string; name?: string } } }[];
}

export function humanAge(timestamp: string, now = Date.now()): string {
  const seconds = Math.max(0, Math.floor((now - Date.parse(timestamp)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return seconds % 60 && minutes < 10 ? `${minutes}m${seconds % 60}s` : `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return minutes % 60 && hours < 8 ? `${hours}h${minutes % 60}m` : `${hours}h`;
  return `${Math.floor(hours / 24)}d`;
}

function cellText(value: unknown): string {
  if (value === null || value === undefined || value === '') return '<none>';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** Render rows of one or more tables of the same kind; `prefix` names the kind when several kinds are listed. */
export function renderTable(table: Table, options: { wide: boolean; withNamespace: boolean; prefix?: string }): string[][] {
  const columns = table.columnDefinitions.map((c, i) => ({ c, i })).filter(({ c }) => options.wide || !c.priority);
  const header = [...(options.withNamespace ? ['NAMESPACE'] : []), ...columns.map(({ c }) => c.name.toUpperCase())];
  const rows = table.rows.map((row) => {
    const cells = columns.map(({ c, i }) => cellText(row.cells[i]));
    if (options.prefix && cells.length > 0) cells[0] = `${options.prefix}/${cells[0]}`;
    return [...(options.withNamespace ? [row.object?.metadata?.namespace ?? ''] : []), ...cells];
  });
  return [header, ...rows];
}

export function alignColumns(lines: string[][]): string {
  const widths: number[] = [];
  for (const line of lines) line.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return lines.map((line) => line.map((cell, i) => (i === line.length - 1 ? cell : cell.padEnd(widths[i]! + 3))).join('')).join('\n');
}
