/** Labels of one sample; values are escaped when written. */
export type Labels = Record<string, string>;
export type MetricSample = [labels: Labels, value: number];

/**
 * Builds Prometheus text exposition (format 0.0.4): a HELP and TYPE line per family, then its samples.
 * Label values are escaped as the format requires, so a device id can never break a scrape.
 */
export class PromText {
  private readonly lines: string[] = [];

  family(name: string, type: "gauge" | "counter", help: string, samples: readonly MetricSample[]): this {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) this.lines.push(`${name}${formatLabels(labels)} ${formatValue(value)}`);
    return this;
  }

  /** A family with one unlabelled sample. */
  one(name: string, type: "gauge" | "counter", help: string, value: number): this {
    return this.family(name, type, help, [[{}, value]]);
  }

  toString(): string {
    return this.lines.join("\n") + "\n";
  }
}

function formatLabels(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
  return `{${entries.map(([k, v]) => `${k}="${esc(v)}"`).join(",")}}`;
}

/** The format spells the special floats its own way; JavaScript's "Infinity" would not parse. */
function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}
