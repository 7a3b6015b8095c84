/**
 * Turns the config's node references (NodeIds with `ns=` or `nsu=`, browse paths) into NodeIds of the
 * connected server: once per session, since a restarted server may renumber its namespaces.
 */
import { makeBrowsePath, resolveNodeId, StatusCodes, type ClientSession, type NodeId } from "node-opcua-client";
import { formatNodeId, isBrowsePath, parseNodeId, type ParsedNodeId } from "./node-id.js";

export type Resolved = { ok: true; nodeId: NodeId } | { ok: false; reason: string };

/** Resolves every reference; never throws for a bad reference (it becomes `ok: false` with the reason). */
export async function resolveRefs(session: ClientSession, refs: readonly string[]): Promise<Resolved[]> {
  const out: Resolved[] = new Array(refs.length);
  let namespaces: string[] | null = null;
  const needsUris = refs.some((r) => !isBrowsePath(r) && /^nsu=/.test(r));
  if (needsUris) namespaces = await session.readNamespaceArray();
  const paths: Array<{ index: number; ref: string }> = [];
  refs.forEach((ref, index) => {
    if (isBrowsePath(ref)) {
      paths.push({ index, ref });
      return;
    }
    const parsed = parseNodeId(ref);
    if ("error" in parsed) {
      out[index] = { ok: false, reason: parsed.error };
      return;
    }
    out[index] = fromParsed(parsed, namespaces);
  });
  // One TranslateBrowsePathsToNodeIds request per 1000 paths keeps a big config within server limits.
  for (let i = 0; i < paths.length; i += 1000) {
    const chunk = paths.slice(i, i + 1000);
    const results = await session.translateBrowsePath(chunk.map((p) => makeBrowsePath("i=85", p.ref)));
    chunk.forEach((p, k) => {
      const r = results[k];
      const target = r?.targets?.[0]?.targetId;
      if (!r || r.statusCode.value !== StatusCodes.Good.value || !target) {
        out[p.index] = { ok: false, reason: `browse path ${p.ref} not found on the server (${r?.statusCode.name ?? "no result"})` };
        return;
      }
      out[p.index] = { ok: true, nodeId: resolveNodeId(target.toString()) };
    });
  }
  return out;
}

function fromParsed(parsed: ParsedNodeId, namespaces: string[] | null): Resolved {
  let index: number;
  if (typeof parsed.namespace === "number") index = parsed.namespace;
  else {
    index = namespaces?.indexOf(parsed.namespace) ?? -1;
    if (index < 0) return { ok: false, reason: `namespace ${parsed.namespace} is not on the server (its namespaces: ${(namespaces ?? []).join(", ")})` };
  }
  try {
    return { ok: true, nodeId: resolveNodeId(formatNodeId(parsed, index)) };
  } catch (err) {
    return { ok: false, reason: `bad NodeId: ${(err as Error).message}` };
  }
}
