/**
 * node-opcua's process-wide state, kept in one place: where its log lines go, and one certificate
 * manager per PKI folder (it watches the folders, which costs file handles) shared by the devices
 * that use the folder and disposed with the last one.
 */
import { format } from "node:util";
import { setErrorLogger, setWarningLogger } from "node-opcua-client";
import { OPCUACertificateManager } from "node-opcua-certificate-manager";
import type { Logger } from "../../logger.js";

let libraryLogger: Logger | null = null;
/**
 * node-opcua prints to the console; its lines go through the agent's logger (debug level) instead, so
 * JSON logs stay parseable. Installed when this module loads, before node-opcua's first asynchronous
 * warning (a Node.js PKCS#1 v1.5 notice that concerns none of the policies the agent offers).
 */
setWarningLogger((...args: unknown[]) => libraryLogger?.debug(format(...args)));
setErrorLogger((...args: unknown[]) => libraryLogger?.debug(format(...args)));
export function routeLibraryLogs(logger: Logger): void {
  libraryLogger ??= logger.child({ component: "node-opcua" });
}

/** One certificate manager per PKI folder and process: node-opcua watches the folders, which costs handles. */
const managers = new Map<string, { manager: OPCUACertificateManager; users: number }>();

export async function acquireManager(pkiDir: string, acceptUnknown: boolean): Promise<{ manager: OPCUACertificateManager; release: () => Promise<void> }> {
  // A device that accepts unknown servers must not lend that to another one sharing the folder.
  const key = `${pkiDir}\0${acceptUnknown}`;
  let entry = managers.get(key);
  if (!entry) {
    entry = { manager: new OPCUACertificateManager({ rootFolder: pkiDir, automaticallyAcceptUnknownCertificate: acceptUnknown, name: "edge-agent" }), users: 0 };
    managers.set(key, entry);
  }
  entry.users++;
  const e = entry;
  let released = false;
  return {
    manager: e.manager,
    release: async () => {
      if (released) return;
      released = true;
      if (--e.users > 0) return;
      managers.delete(key);
      await e.manager.dispose().catch(() => undefined);
    },
  };
}
