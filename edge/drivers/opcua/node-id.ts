/**
 * NodeId and browse-path syntax, checked when the config is loaded (no OPC UA stack needed): a typo in
 * an address fails `edge-agent validate`, not the first subscription at 3 a.m.
 *
 * NodeIds use the OPC UA string form: `ns=2;s=Line1.Oven1.Temperature` (string), `ns=2;i=1001`
 * (numeric), `ns=2;g=09087e75-8e5e-499b-954f-f2a9603db28a` (GUID), `ns=2;b=M/RbKBsRVkePCePcx24oRA==`
 * (opaque, base64). `ns=` may be left out for namespace 0 (`i=2258`), or replaced by the namespace URI
 * (`nsu=urn:factory;s=Oven1`), which survives a server that renumbers its namespaces.
 *
 * Browse paths are relative to the Objects folder in the OPC UA RelativePath syntax:
 * `/2:Factory/2:Line1/2:Oven1/2:Temperature`: `/` follows a hierarchical reference, `.` an aggregate
 * (a property or component), `2:` is the namespace index of the BrowseName; `&` escapes `/ . : & # ! < >`.
 */

export type NodeIdKind = "numeric" | "string" | "guid" | "opaque";

export interface ParsedNodeId {
  /** Namespace index, or the namespace URI when written with `nsu=`. */
  namespace: number | string;
  kind: NodeIdKind;
  /** The identifier as written after `i=`, `s=`, `g=` or `b=`. */
  identifier: string;
}

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const KINDS: Record<string, NodeIdKind> = { i: "numeric", s: "string", g: "guid", b: "opaque" };

/** Parses a NodeId string; returns an error message instead of throwing, for schema messages. */
export function parseNodeId(text: string): ParsedNodeId | { error: string } {
  let rest = text;
  let namespace: number | string = 0;
  const ns = /^ns=(\d+);/.exec(rest);
  const nsu = /^nsu=([^;]+);/.exec(rest);
  if (ns) {
    namespace = Number(ns[1]);
    if (namespace > 65535) return { error: `namespace index ${namespace} is above 65535` };
    rest = rest.slice(ns[0].length);
  } else if (nsu) {
    namespace = nsu[1] ?? "";
    rest = rest.slice(nsu[0].length);
  }
  const m = /^([isgb])=([\s\S]*)$/.exec(rest);
  const kind = m ? KINDS[m[1] ?? ""] : undefined;
  if (!m || !kind) return { error: "expected a NodeId like ns=2;s=Name, ns=2;i=1001, ns=2;g=<GUID> or ns=2;b=<base64>" };
  const identifier = m[2] ?? "";
  switch (kind) {
    case "numeric":
      if (!/^\d+$/.test(identifier) || Number(identifier) > 0xffffffff) return { error: `a numeric identifier (i=) must be an integer 0..4294967295, got "${identifier}"` };
      break;
    case "string":
      if (identifier.length === 0) return { error: "a string identifier (s=) must not be empty" };
      if (identifier.length > 4096) return { error: "a string identifier (s=) is limited to 4096 characters" };
      break;
    case "guid":
      if (!GUID.test(identifier)) return { error: `a GUID identifier (g=) looks like 09087e75-8e5e-499b-954f-f2a9603db28a, got "${identifier}"` };
      break;
    case "opaque":
      if (!BASE64.test(identifier) || identifier.length % 4 !== 0) return { error: `an opaque identifier (b=) must be base64, got "${identifier}"` };
      break;
  }
  return { namespace, kind, identifier };
}

/** The `ns=N;x=...` form for a namespace index, as node-opcua's resolveNodeId reads it. */
export function formatNodeId(id: ParsedNodeId, namespaceIndex: number): string {
  const prefix = namespaceIndex === 0 ? "" : `ns=${namespaceIndex};`;
  const letter = id.kind === "numeric" ? "i" : id.kind === "string" ? "s" : id.kind === "guid" ? "g" : "b";
  return `${prefix}${letter}=${id.identifier}`;
}

/** One element of a browse path, e.g. `/2:Oven1` = follow a hierarchical reference to BrowseName 2:Oven1. */
export interface BrowsePathElement {
  reference: "hierarchical" | "aggregates";
  namespaceIndex: number;
  name: string;
}

const ESCAPED = new Set(["/", ".", ":", "&", "#", "!", "<", ">"]);

/** Parses a browse path relative to the Objects folder; an error message instead of throwing. */
export function parseBrowsePath(text: string): BrowsePathElement[] | { error: string } {
  if (!text.startsWith("/") && !text.startsWith(".")) return { error: `a browse path starts with "/" (from the Objects folder), like /2:Factory/2:Line1/2:Oven1/2:Temperature, got "${text}"` };
  const out: BrowsePathElement[] = [];
  let i = 0;
  while (i < text.length) {
    const sep = text[i];
    i++;
    let raw = "";
    while (i < text.length && text[i] !== "/" && text[i] !== ".") {
      const c = text[i] ?? "";
      if (c === "&") {
        const next = text[i + 1];
        if (next === undefined || !ESCAPED.has(next)) return { error: `"&" must escape one of / . : & # ! < > (at character ${i + 1})` };
        raw += "&" + next;
        i += 2;
        continue;
      }
      if (c === "#" || c === "!" || c === "<" || c === ">") return { error: `reference-type syntax (<...>, #, !) is not supported in a browse path; use / and . (at character ${i + 1})` };
      raw += c;
      i++;
    }
    const nsMatch = /^(\d+):/.exec(raw);
    const namespaceIndex = nsMatch ? Number(nsMatch[1]) : 0;
    const name = (nsMatch ? raw.slice(nsMatch[0].length) : raw).replace(/&(.)/g, "$1");
    if (name.length === 0) return { error: `empty element in browse path "${text}"` };
    if (name.includes(":") && !raw.includes("&:")) return { error: `"${raw}" is not a BrowseName: write it as <namespace index>:<name>, e.g. 2:Oven1` };
    out.push({ reference: sep === "/" ? "hierarchical" : "aggregates", namespaceIndex, name });
  }
  return out;
}

/** Whether a node reference in the config is a browse path (starts with / or .) rather than a NodeId. */
export function isBrowsePath(ref: string): boolean {
  return ref.startsWith("/") || ref.startsWith(".");
}
