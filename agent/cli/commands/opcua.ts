import { resolve } from "node:path";
import { EdgeError } from "../../../edge/errors.js";
import { EXIT, UsageError, type Command, type OptionValues } from "../command.js";

const DEFAULT_PKI = "./data/pki";
const policies = ["None", "Basic256Sha256", "Aes128_Sha256_RsaOaep"] as const;
const modes = ["None", "Sign", "SignAndEncrypt"] as const;

const print = (line: string) => process.stdout.write(line + "\n");

function str(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (typeof v !== "string" || v === "") throw new UsageError(`--${name} needs a value`);
  return v;
}

function oneOf<T extends string>(values: OptionValues, name: string, allowed: readonly T[]): T | undefined {
  const v = str(values, name);
  if (v === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(v)) throw new UsageError(`--${name} must be one of ${allowed.join(", ")}, got "${v}"`);
  return v as T;
}

function positiveInt(values: OptionValues, name: string): number | undefined {
  const v = str(values, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`--${name} must be a positive integer, got "${v}"`);
  return Number(v);
}

function table(rows: string[][]): string[] {
  const widths = rows.reduce<number[]>((w, r) => r.map((c, i) => Math.max(w[i] ?? 0, c.length)), []);
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ").trimEnd());
}

async function browse(values: OptionValues, args: string[]): Promise<number> {
  const [endpointUrl, ...rest] = args;
  if (!endpointUrl || rest.length > 0) throw new UsageError("opcua browse takes one endpoint URL, e.g. opc.tcp://192.168.10.20:4840");
  if (!/^opc\.tcp:\/\//.test(endpointUrl)) throw new UsageError(`expected an endpoint URL like opc.tcp://host:4840, got "${endpointUrl}"`);
  const securityPolicy = oneOf(values, "security-policy", policies) ?? "None";
  const securityMode = oneOf(values, "security-mode", modes) ?? (securityPolicy === "None" ? "None" : "SignAndEncrypt");
  if ((securityPolicy === "None") !== (securityMode === "None")) throw new UsageError("--security-policy None goes with --security-mode None, and a real policy with Sign or SignAndEncrypt");
  const format = oneOf(values, "format", ["table", "yaml", "json"] as const) ?? "table";
  const username = str(values, "user");
  const password = str(values, "password") ?? process.env.OPCUA_PASSWORD;
  if (password !== undefined && username === undefined) throw new UsageError("--password goes with --user");
  const pkiDir = resolve(str(values, "pki") ?? DEFAULT_PKI);
  const { browseServer } = await import("../../../edge/drivers/opcua/browse.js");
  let result;
  try {
    result = await browseServer({
      endpointUrl,
      pkiDir,
      securityPolicy,
      securityMode,
      username,
      password,
      acceptUnknownServerCertificate: values["accept-server-certificate"] === true,
      root: str(values, "root"),
      maxDepth: positiveInt(values, "depth"),
      maxNodes: positiveInt(values, "max-nodes"),
      includeServerObject: values.all === true,
    });
  } catch (err) {
    if (err instanceof EdgeError) {
      process.stderr.write(`edge-agent opcua browse: ${err.message}\n`);
      return EXIT.failed;
    }
    throw err;
  }
  const { nodes, namespaces, truncated } = result;
  if (format === "json") {
    print(JSON.stringify({ endpointUrl, namespaces, truncated, nodes }, null, 2));
    return EXIT.ok;
  }
  const variables = nodes.filter((n) => n.kind === "variable");
  const methods = nodes.filter((n) => n.kind === "method");
  if (format === "yaml") {
    print(`# ${variables.length} variable(s) of ${endpointUrl}; namespaces: ${namespaces.map((u, i) => `${i}=${u}`).join(", ")}`);
    print("points:");
    for (const v of variables) {
      const id = v.browsePath.split("/").slice(-2).map((p) => p.replace(/^\d+:/, "").replace(/&(.)/g, "$1")).join(".").replace(/[^A-Za-z0-9._-]/g, "_");
      print(`  - { id: ${id}, nodeId: ${JSON.stringify(v.nodeId)}${v.writable ? ", writable: true" : ""} }   # ${v.browsePath} (${v.dataType})`);
    }
    if (methods.length > 0) print(`# methods:\n${methods.map((m) => `#   ${m.nodeId}  ${m.browsePath}`).join("\n")}`);
  } else {
    for (const line of table([["NODEID", "TYPE", "ACCESS", "BROWSE PATH"], ...variables.map((v) => [v.nodeId, v.dataType, v.writable ? "read/write" : "read", v.browsePath])])) print(line);
    if (methods.length > 0) {
      print("");
      for (const line of table([["METHOD NODEID", "BROWSE PATH"], ...methods.map((m) => [m.nodeId, m.browsePath])])) print(line);
    }
    print("");
    print(`${variables.length} variable(s), ${methods.length} method(s). Namespaces: ${namespaces.map((u, i) => `${i}=${u}`).join(", ")}`);
  }
  if (truncated) print(`stopped at --max-nodes; narrow with --root NODEID or raise --max-nodes`);
  return EXIT.ok;
}

async function certs(values: OptionValues, args: string[]): Promise<number> {
  const [action, ...rest] = args;
  const pkiDir = resolve(str(values, "pki") ?? DEFAULT_PKI);
  const store = await import("../../../edge/drivers/opcua/pki-store.js");
  try {
    switch (action) {
      case "list": {
        if (rest.length > 0) throw new UsageError("opcua certs list takes no argument");
        const all = store.listCertificates(pkiDir);
        if (values.format === "json") {
          print(JSON.stringify({ pkiDir, certificates: all }, null, 2));
          return EXIT.ok;
        }
        if (all.length === 0) {
          print(`no certificates in ${pkiDir} yet (the agent creates its own at its first OPC UA connection)`);
          return EXIT.ok;
        }
        const rows = all.map((c) => [c.folder, c.thumbprint, c.subject.split(", ").find((p) => p.startsWith("CN="))?.slice(3) ?? c.subject, c.applicationUri ?? "", c.validTo]);
        for (const line of table([["FOLDER", "THUMBPRINT", "NAME", "APPLICATION URI", "VALID UNTIL"], ...rows])) print(line);
        const rejected = all.filter((c) => c.folder === "rejected").length;
        if (rejected > 0) print(`\n${rejected} rejected: trust one with  edge-agent opcua certs trust <thumbprint> --pki ${pkiDir}`);
        return EXIT.ok;
      }
      case "trust": {
        const [what, ...more] = rest;
        if (!what || more.length > 0) throw new UsageError("opcua certs trust takes one thumbprint (from `certs list`) or one certificate file");
        const c = store.trustCertificate(pkiDir, what);
        print(`trusted ${c.thumbprint} (${c.subject}): ${c.file}`);
        return EXIT.ok;
      }
      case "reject": {
        const [what, ...more] = rest;
        if (!what || more.length > 0) throw new UsageError("opcua certs reject takes one thumbprint (from `certs list`)");
        const c = store.rejectCertificate(pkiDir, what);
        print(`rejected ${c.thumbprint} (${c.subject}): ${c.file}`);
        return EXIT.ok;
      }
      default:
        throw new UsageError(`opcua certs takes list, trust or reject, got ${action === undefined ? "nothing" : `"${action}"`}`);
    }
  } catch (err) {
    if (err instanceof EdgeError) {
      process.stderr.write(`edge-agent opcua certs: ${err.message}\n`);
      return EXIT.failed;
    }
    throw err;
  }
}

export const opcuaCommand: Command = {
  name: "opcua",
  summary: "OPC UA tools: browse a server, manage trusted server certificates",
  help: `Usage: edge-agent opcua browse ENDPOINT [options]
       edge-agent opcua certs list|trust|reject [THUMBPRINT|FILE] [--pki DIR]

browse ENDPOINT   lists the server's variables (NodeId, data type, access, browse path) and methods,
                  walking from the Objects folder, so you can write the points of a config.
      --security-policy P   None (default), Basic256Sha256 or Aes128_Sha256_RsaOaep
      --security-mode M     None, Sign or SignAndEncrypt (default SignAndEncrypt with a policy)
      --user NAME           log in as NAME (password from --password or $OPCUA_PASSWORD)
      --password PW
      --accept-server-certificate   trust the server's certificate without asking (lab use)
      --root NODEID         start there instead of the Objects folder
      --depth N             how deep to walk (default 10)
      --max-nodes N         stop after N nodes (default 5000)
      --all                 also walk the standard Server object (diagnostics)
      --format F            table (default), yaml (a points: list to paste) or json

certs list              the agent's own certificate and the trusted, rejected and issuer certificates
certs trust X           trust a server: X is a thumbprint from \`certs list\` (a rejected certificate,
                        at least 8 hex digits) or a certificate file (PEM or DER) to add
certs reject X          stop trusting a server (moves its certificate to rejected/)
      --pki DIR             the agent's PKI folder (default ${DEFAULT_PKI}, i.e. {dataDir}/pki)
      --format json         (list) machine-readable output

A running agent picks up trust changes at its next connection attempt; no restart is needed.
Exit code: 0 done, 1 failed (unreachable server, unknown thumbprint), 2 usage error.`,
  options: {
    pki: { type: "string" },
    "security-policy": { type: "string" },
    "security-mode": { type: "string" },
    user: { type: "string" },
    password: { type: "string" },
    "accept-server-certificate": { type: "boolean" },
    root: { type: "string" },
    depth: { type: "string" },
    "max-nodes": { type: "string" },
    all: { type: "boolean" },
    format: { type: "string" },
  },
  positionals: true,
  async run(values, positionals) {
    const [sub, ...args] = positionals;
    if (sub === "browse") return browse(values, args);
    if (sub === "certs") return certs(values, args);
    throw new UsageError(`opcua takes browse or certs, got ${sub === undefined ? "nothing" : `"${sub}"`}`);
  },
};
