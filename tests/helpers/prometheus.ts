/**
 * A strict reader of the Prometheus text format (0.0.4), for tests: it refuses what a scraper would
 * refuse or misread (a sample before its TYPE, a family declared twice, a bad name, an unescaped label
 * value, a duplicate series, a value that is not a float), so a test passing means a scrape works.
 */
export interface MetricFamily {
  name: string;
  type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  help: string;
  samples: Array<{ name: string; labels: Record<string, string>; value: number }>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function parsePrometheus(text: string): Map<string, MetricFamily> {
  if (!text.endsWith("\n")) throw new Error("the exposition must end with a newline");
  const families = new Map<string, MetricFamily>();
  const series = new Set<string>();
  let current: MetricFamily | null = null;
  text.slice(0, -1).split("\n").forEach((line, i) => {
    const where = `line ${i + 1}: ${line}`;
    if (line.startsWith("# HELP ") || line.startsWith("# TYPE ")) {
      const [, kind = "", name = "", ...rest] = line.split(" ");
      if (!NAME.test(name)) throw new Error(`bad metric name, ${where}`);
      let f = families.get(name);
      if (!f) {
        f = { name, type: "untyped", help: "", samples: [] };
        families.set(name, f);
      } else if (f !== current) throw new Error(`family ${name} declared twice (not together), ${where}`);
      if (kind === "TYPE") {
        const type = rest.join(" ");
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(type)) throw new Error(`bad type, ${where}`);
        if (f.samples.length) throw new Error(`TYPE after samples, ${where}`);
        f.type = type as MetricFamily["type"];
      } else f.help = rest.join(" ");
      current = f;
      return;
    }
    if (line.startsWith("#")) return;
    if (line.trim() === "") throw new Error(`empty line, ${where}`);
    const { name, labels, rest } = readSeries(line, where);
    const value = parseValue(rest.trim().split(/\s+/)[0] ?? "", where);
    if (!current || (name !== current.name && !(current.type === "summary" || current.type === "histogram"))) {
      throw new Error(`sample outside its family (no TYPE line for ${name} just before it), ${where}`);
    }
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (series.has(key)) throw new Error(`duplicate series, ${where}`);
    series.add(key);
    current.samples.push({ name, labels, value });
  });
  return families;
}

function readSeries(line: string, where: string): { name: string; labels: Record<string, string>; rest: string } {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{)?/.exec(line);
  if (!m?.[1]) throw new Error(`bad sample, ${where}`);
  const labels: Record<string, string> = {};
  let i = m[0].length;
  if (m[2]) {
    while (line[i] !== "}") {
      const nm = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(i));
      if (!nm?.[1] || !LABEL_NAME.test(nm[1])) throw new Error(`bad label, ${where}`);
      i += nm[0].length;
      let value = "";
      for (;;) {
        const c = line[i++];
        if (c === undefined) throw new Error(`unterminated label value, ${where}`);
        if (c === '"') break;
        if (c === "\\") {
          const e = line[i++];
          if (e === "n") value += "\n";
          else if (e === "\\" || e === '"') value += e;
          else throw new Error(`bad escape \\${e ?? ""}, ${where}`);
        } else value += c;
      }
      if (nm[1] in labels) throw new Error(`label ${nm[1]} twice, ${where}`);
      labels[nm[1]] = value;
      if (line[i] === ",") i++;
      else if (line[i] !== "}") throw new Error(`expected , or } after a label, ${where}`);
    }
    i++;
  }
  if (line[i] !== " ") throw new Error(`expected a space before the value, ${where}`);
  return { name: m[1], labels, rest: line.slice(i) };
}

function parseValue(text: string, where: string): number {
  if (text === "NaN") return NaN;
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad value "${text}", ${where}`);
  return Number(text);
}

/** The value of one series (labels must match exactly); undefined when absent. */
export function metricValue(families: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = JSON.stringify(Object.entries(labels).sort());
  for (const f of families.values()) {
    const s = f.samples.find((x) => x.name === name && JSON.stringify(Object.entries(x.labels).sort()) === want);
    if (s) return s.value;
  }
  return undefined;
}
