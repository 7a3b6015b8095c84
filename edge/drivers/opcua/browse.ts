/**
 * Lists a server's variables and methods (NodeId, browse path, data type, access) so a user can write
 * the config without another tool. Walks hierarchical references from the Objects folder, breadth
 * first, within a depth and a node budget; the standard Server object is skipped unless asked for.
 */
import {
  AttributeIds,
  BrowseDirection,
  DataType,
  MessageSecurityMode,
  NodeClass,
  OPCUAClient,
  SecurityPolicy,
  UserTokenType,
  resolveNodeId,
  type ClientSession,
  type NodeId,
  type ReferenceDescription,
  type UserIdentityInfo,
} from "node-opcua-client";
import { OPCUACertificateManager } from "node-opcua-certificate-manager";
import { EdgeError } from "../../errors.js";
import type { OpcuaSecurityMode, OpcuaSecurityPolicy } from "./config.js";
import { explainOpcuaError } from "./errors.js";

export interface BrowseOptions {
  endpointUrl: string;
  pkiDir: string;
  securityPolicy?: OpcuaSecurityPolicy;
  securityMode?: OpcuaSecurityMode;
  username?: string;
  password?: string;
  acceptUnknownServerCertificate?: boolean;
  /** Where to start (a NodeId); default the Objects folder. */
  root?: string;
  maxDepth?: number;
  maxNodes?: number;
  /** Also walk the standard Server object (ns=0;i=2253): diagnostics, many nodes. */
  includeServerObject?: boolean;
  timeoutMs?: number;
}

export interface BrowsedNode {
  kind: "variable" | "method";
  nodeId: string;
  browsePath: string;
  displayName: string;
  /** Variables: the data type's name (Double, String, ...); methods: "". */
  dataType: string;
  /** Variables: whether the current user may write the value. */
  writable: boolean;
}

export interface BrowseResult {
  nodes: BrowsedNode[];
  namespaces: string[];
  /** The walk stopped at maxNodes. */
  truncated: boolean;
}

/** ns=0;i=2253, the standard Server object. */
const SERVER_OBJECT = 2253;

function escapeName(name: string): string {
  return name.replace(/[/.:&#!<>]/g, (c) => `&${c}`);
}

async function readNames(session: ClientSession, typeIds: NodeId[]): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  const unknown: NodeId[] = [];
  for (const id of typeIds) {
    const key = id.toString();
    if (names.has(key)) continue;
    if (id.namespace === 0 && typeof id.value === "number" && DataType[id.value] !== undefined && id.value <= 25) names.set(key, DataType[id.value] as string);
    else if (!unknown.some((u) => u.toString() === key)) unknown.push(id);
  }
  for (let i = 0; i < unknown.length; i += 500) {
    const chunk = unknown.slice(i, i + 500);
    const values = await session.read(chunk.map((nodeId) => ({ nodeId, attributeId: AttributeIds.BrowseName })));
    chunk.forEach((id, k) => names.set(id.toString(), String((values[k]?.value?.value as { name?: string } | null)?.name ?? id.toString())));
  }
  return names;
}

export async function browseServer(o: BrowseOptions): Promise<BrowseResult> {
  const maxDepth = o.maxDepth ?? 10;
  const maxNodes = o.maxNodes ?? 5000;
  const manager = new OPCUACertificateManager({ rootFolder: o.pkiDir, automaticallyAcceptUnknownCertificate: o.acceptUnknownServerCertificate ?? false, name: "edge-agent" });
  const client = OPCUAClient.create({
    applicationName: "edge-agent",
    clientCertificateManager: manager,
    securityPolicy: SecurityPolicy[o.securityPolicy ?? "None"],
    securityMode: MessageSecurityMode[o.securityMode ?? "None"],
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0 },
    defaultTransactionTimeout: o.timeoutMs ?? 10_000,
    transportTimeout: o.timeoutMs ?? 10_000,
  });
  try {
    try {
      await client.connect(o.endpointUrl);
    } catch (err) {
      throw new EdgeError("OPCUA_CONNECT", explainOpcuaError(err, { endpointUrl: o.endpointUrl, pkiDir: o.pkiDir, since: Date.now() }).message, { cause: err });
    }
    const identity: UserIdentityInfo = o.username !== undefined ? { type: UserTokenType.UserName, userName: o.username, password: o.password ?? "" } : { type: UserTokenType.Anonymous };
    let session: ClientSession;
    try {
      session = await client.createSession(identity);
    } catch (err) {
      throw new EdgeError("OPCUA_SESSION", explainOpcuaError(err, { endpointUrl: o.endpointUrl, pkiDir: o.pkiDir, since: Date.now() }).message, { cause: err });
    }
    try {
      return await walk(session, o, maxDepth, maxNodes);
    } finally {
      await session.close().catch(() => undefined);
    }
  } finally {
    await client.disconnect().catch(() => undefined);
    await manager.dispose().catch(() => undefined);
  }
}

async function walk(session: ClientSession, o: BrowseOptions, maxDepth: number, maxNodes: number): Promise<BrowseResult> {
  const namespaces = await session.readNamespaceArray();
  const root = resolveNodeId(o.root ?? "i=85");
  let frontier: Array<{ nodeId: NodeId; path: string; depth: number }> = [{ nodeId: root, path: "", depth: 0 }];
  const seen = new Set<string>([root.toString()]);
  const found: Array<BrowsedNode & { id: NodeId }> = [];
  let visited = 0;
  let truncated = false;
  while (frontier.length > 0 && !truncated) {
    const next: typeof frontier = [];
    for (let i = 0; i < frontier.length; i += 200) {
      const chunk = frontier.slice(i, i + 200);
      const results = await session.browse(
        chunk.map((f) => ({
          nodeId: f.nodeId,
          browseDirection: BrowseDirection.Forward,
          referenceTypeId: "HierarchicalReferences",
          includeSubtypes: true,
          nodeClassMask: NodeClass.Object | NodeClass.Variable | NodeClass.Method,
          resultMask: 0x3f,
        })),
      );
      chunk.forEach((parent, k) => {
        for (const ref of (results[k]?.references ?? []) as ReferenceDescription[]) {
          const id = resolveNodeId(ref.nodeId.toString());
          const key = id.toString();
          if (seen.has(key)) continue;
          seen.add(key);
          if (!o.includeServerObject && id.namespace === 0 && id.value === SERVER_OBJECT) continue;
          if (++visited > maxNodes) {
            truncated = true;
            return;
          }
          const name = `${ref.browseName.namespaceIndex}:${escapeName(ref.browseName.name ?? "")}`;
          const path = `${parent.path}/${name}`;
          if (ref.nodeClass === NodeClass.Variable || ref.nodeClass === NodeClass.Method) {
            found.push({ id, kind: ref.nodeClass === NodeClass.Variable ? "variable" : "method", nodeId: key, browsePath: path, displayName: ref.displayName.text ?? "", dataType: "", writable: false });
          }
          // Variables can have children too (properties, AnalogItem ranges), methods cannot.
          if (ref.nodeClass !== NodeClass.Method && parent.depth + 1 < maxDepth) next.push({ nodeId: id, path, depth: parent.depth + 1 });
        }
      });
      if (truncated) break;
    }
    frontier = next;
  }
  const variables = found.filter((n) => n.kind === "variable");
  const typeIds: NodeId[] = [];
  const typeOf = new Map<BrowsedNode, NodeId>();
  for (let i = 0; i < variables.length; i += 500) {
    const chunk = variables.slice(i, i + 500);
    const attrs = await session.read(chunk.flatMap((v) => [{ nodeId: v.id, attributeId: AttributeIds.DataType }, { nodeId: v.id, attributeId: AttributeIds.UserAccessLevel }]));
    chunk.forEach((v, k) => {
      const type = attrs[2 * k]?.value?.value as NodeId | null | undefined;
      const access = attrs[2 * k + 1]?.value?.value as number | null | undefined;
      if (type) {
        typeIds.push(type);
        typeOf.set(v, type);
      }
      v.writable = typeof access === "number" && (access & 0x02) !== 0;
    });
  }
  const names = await readNames(session, typeIds);
  const nodes = found.map((node): BrowsedNode => {
    const { id: _id, ...n } = node;
    const typeId = typeOf.get(node);
    return { ...n, dataType: n.kind === "variable" ? (typeId ? (names.get(typeId.toString()) ?? typeId.toString()) : "?") : "" };
  });
  return { nodes, namespaces, truncated };
}
