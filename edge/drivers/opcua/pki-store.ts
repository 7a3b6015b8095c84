/**
 * The PKI folder as files, without the OPC UA stack (the `opcua certs` command and error messages use
 * it; node-opcua uses the same layout):
 *
 *   {pki}/own/certs/client_certificate.pem   the agent's application certificate (created at first start)
 *   {pki}/own/private/private_key.pem        its private key
 *   {pki}/trusted/certs/                      server certificates the agent trusts
 *   {pki}/rejected/                           server certificates it refused (waiting for a decision)
 *   {pki}/issuers/certs/                      CA certificates
 *
 * A certificate is named by its SHA-1 thumbprint in lowercase hex, as node-opcua logs it.
 */
import { X509Certificate, createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EdgeError } from "../../errors.js";

export type CertificateFolder = "own" | "trusted" | "rejected" | "issuers";

export interface CertificateInfo {
  folder: CertificateFolder;
  file: string;
  thumbprint: string;
  subject: string;
  /** The application URI (URI in subjectAltName), when present. */
  applicationUri: string | null;
  validFrom: string;
  validTo: string;
  /** ms epoch of the file's last change (when a rejected certificate was seen). */
  modifiedAt: number;
}

const folders: Record<CertificateFolder, string> = {
  own: join("own", "certs"),
  trusted: join("trusted", "certs"),
  rejected: "rejected",
  issuers: join("issuers", "certs"),
};

export function ownCertificatePath(pkiDir: string): string {
  return join(pkiDir, "own", "certs", "client_certificate.pem");
}

/** Reads a PEM or DER certificate file; throws PKI_BAD_CERTIFICATE naming the file. */
export function readCertificate(file: string): X509Certificate {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (err) {
    throw new EdgeError("PKI_BAD_CERTIFICATE", `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return new X509Certificate(data);
  } catch (err) {
    throw new EdgeError("PKI_BAD_CERTIFICATE", `${file} is not a PEM or DER X.509 certificate`, { cause: err });
  }
}

export function thumbprintOf(cert: X509Certificate): string {
  return createHash("sha1").update(cert.raw).digest("hex");
}

function describe(folder: CertificateFolder, file: string): CertificateInfo | null {
  let cert: X509Certificate;
  try {
    cert = readCertificate(file);
  } catch {
    return null;
  }
  const uri = /URI:([^,\s]+)/.exec(cert.subjectAltName ?? "")?.[1] ?? null;
  return {
    folder,
    file,
    thumbprint: thumbprintOf(cert),
    subject: cert.subject.replace(/\n/g, ", "),
    applicationUri: uri,
    validFrom: cert.validFrom,
    validTo: cert.validTo,
    modifiedAt: statSync(file).mtimeMs,
  };
}

/** Every certificate in the PKI folder, by folder; an absent folder lists nothing. */
export function listCertificates(pkiDir: string): CertificateInfo[] {
  const out: CertificateInfo[] = [];
  for (const folder of Object.keys(folders) as CertificateFolder[]) {
    const dir = join(pkiDir, folders[folder]);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) {
      if (!/\.(pem|der|crt|cer)$/i.test(name)) continue;
      const info = describe(folder, join(dir, name));
      if (info) out.push(info);
    }
  }
  return out;
}

/** Normalises a thumbprint as users paste it (colons, spaces, upper case). */
export function normaliseThumbprint(text: string): string {
  return text.replace(/[:\s]/g, "").toLowerCase();
}

/** Finds certificates whose thumbprint starts with `prefix` (at least 8 hex digits). */
export function findByThumbprint(pkiDir: string, prefix: string, inFolders: CertificateFolder[]): CertificateInfo[] {
  const p = normaliseThumbprint(prefix);
  if (!/^[0-9a-f]{8,40}$/.test(p)) throw new EdgeError("PKI_BAD_THUMBPRINT", `"${prefix}" is not a thumbprint: expected 8 to 40 hex digits (SHA-1), as \`edge-agent opcua certs list\` shows`);
  return listCertificates(pkiDir).filter((c) => inFolders.includes(c.folder) && c.thumbprint.startsWith(p));
}

function fileName(info: { thumbprint: string; subject: string }): string {
  const cn = (/CN=([^,\n]+)/.exec(info.subject)?.[1] ?? "certificate").replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 60);
  return `${cn}[${info.thumbprint}].pem`;
}

function toPem(cert: X509Certificate): string {
  return cert.toString();
}

/**
 * Trusts a server certificate: by thumbprint (moved from rejected/), or a certificate file (copied into
 * trusted/). Returns what was trusted.
 */
export function trustCertificate(pkiDir: string, thumbprintOrFile: string): CertificateInfo {
  const target = join(pkiDir, folders.trusted);
  mkdirSync(target, { recursive: true });
  if (existsSync(thumbprintOrFile) && statSync(thumbprintOrFile).isFile()) {
    const cert = readCertificate(thumbprintOrFile);
    const thumbprint = thumbprintOf(cert);
    const dest = join(target, fileName({ thumbprint, subject: cert.subject }));
    if (/\.pem$/i.test(thumbprintOrFile) || readFileSync(thumbprintOrFile, "latin1").includes("-----BEGIN")) copyFileSync(thumbprintOrFile, dest);
    else writePem(dest, toPem(cert));
    // The same certificate waiting in rejected/ is decided now.
    for (const r of findByThumbprint(pkiDir, thumbprint, ["rejected"])) unlinkSync(r.file);
    return describe("trusted", dest) as CertificateInfo;
  }
  const found = findByThumbprint(pkiDir, thumbprintOrFile, ["rejected", "trusted"]);
  const trusted = found.find((c) => c.folder === "trusted");
  if (trusted) return trusted;
  const match = unique(found, thumbprintOrFile, "rejected");
  const dest = join(target, fileName(match));
  renameSync(match.file, dest);
  return describe("trusted", dest) as CertificateInfo;
}

/** Moves a trusted (or unknown-but-rejected) certificate to rejected/: the agent refuses that server from its next connection. */
export function rejectCertificate(pkiDir: string, thumbprint: string): CertificateInfo {
  const found = findByThumbprint(pkiDir, thumbprint, ["trusted", "rejected"]);
  const already = found.find((c) => c.folder === "rejected");
  const trusted = found.filter((c) => c.folder === "trusted");
  if (trusted.length === 0 && already) return already;
  const match = unique(trusted, thumbprint, "trusted");
  const dir = join(pkiDir, folders.rejected);
  mkdirSync(dir, { recursive: true });
  const dest = join(dir, fileName(match));
  renameSync(match.file, dest);
  return describe("rejected", dest) as CertificateInfo;
}

function unique(found: CertificateInfo[], query: string, where: string): CertificateInfo {
  if (found.length === 0) throw new EdgeError("PKI_NOT_FOUND", `no certificate with thumbprint ${normaliseThumbprint(query)}… in ${where}/ (see \`edge-agent opcua certs list\`)`);
  if (found.length > 1) throw new EdgeError("PKI_AMBIGUOUS", `thumbprint ${normaliseThumbprint(query)} matches ${found.length} certificates; give more digits`);
  return found[0] as CertificateInfo;
}

function writePem(file: string, pem: string): void {
  writeFileSync(file, pem);
}
