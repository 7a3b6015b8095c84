import { errorMessage } from "../../errors.js";
import { listCertificates, ownCertificatePath } from "./pki-store.js";

/** What went wrong, as counted in status. */
export type OpcuaErrorKind = "connection" | "security" | "session" | "subscription" | "timeout" | "request" | "other";

export interface ExplainedError {
  kind: OpcuaErrorKind;
  message: string;
  /** The server certificate was refused by the agent: a user must trust it. */
  untrustedServer?: { thumbprint: string | null; subject: string | null };
}

/**
 * Turns node-opcua's errors into messages a plant engineer can act on; an untrusted server certificate
 * names its thumbprint and the command that trusts it.
 */
export function explainOpcuaError(err: unknown, ctx: { endpointUrl: string; pkiDir: string; since: number }): ExplainedError {
  const message = errorMessage(err);
  if (/server Certificate verification failed|BadCertificateUntrusted.*server|certificate.*not trusted/i.test(message) && !/BadSecurityChecksFailed/.test(message)) {
    // node-opcua put the certificate it refused in rejected/: the newest one is this server's.
    const rejected = listCertificates(ctx.pkiDir)
      .filter((c) => c.folder === "rejected")
      .sort((a, b) => b.modifiedAt - a.modifiedAt);
    const cert = rejected[0];
    const thumbprint = cert?.thumbprint ?? null;
    const what = thumbprint ?? "<thumbprint>";
    return {
      kind: "security",
      untrustedServer: { thumbprint, subject: cert?.subject ?? null },
      message:
        `the server certificate of ${ctx.endpointUrl} is not trusted${cert ? ` (${cert.subject}, thumbprint ${thumbprint})` : ""}; ` +
        `it was put in ${ctx.pkiDir}/rejected. If this is your server, trust it with: edge-agent opcua certs trust ${what} --pki ${ctx.pkiDir} ` +
        `(a running agent retries on its own)`,
    };
  }
  if (/BadSecurityChecksFailed|BadCertificate|BadNoValidCertificates|BadSecurityPolicyRejected/i.test(message)) {
    return {
      kind: "security",
      message: `the server refused the secure channel (${message}): it may not trust the agent's certificate ${ownCertificatePath(ctx.pkiDir)}; add it to the server's trusted certificates, or check securityPolicy/securityMode`,
    };
  }
  if (/BadUserAccessDenied|BadIdentityToken|BadUserSignatureInvalid/i.test(message)) {
    return { kind: "security", message: `the server refused the identity: ${message} (check identity.username/password or the user certificate)` };
  }
  if (/cannot find endpoint|no endpoint|endpoint.*not found|BadSecurityModeRejected/i.test(message)) {
    return { kind: "security", message: `${message}: the server offers no endpoint with this securityPolicy/securityMode (see \`edge-agent opcua browse\` for what it offers)` };
  }
  if (/timeout|timed out/i.test(message)) return { kind: "timeout", message };
  if (/ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|socket|closed|connection/i.test(message)) return { kind: "connection", message };
  if (/session/i.test(message)) return { kind: "session", message };
  return { kind: "other", message };
}
