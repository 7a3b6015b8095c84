import { EdgeError } from "../../edge/errors.js";

/**
 * Every way a release, a root or an archive can be refused. Each check has its own code so that the
 * supervisor, the fleet status topic and tests can tell *why* an update was refused, not just that it was.
 */
export const OTA_CODES = [
  // Root of trust
  "OTA_ROOT_INVALID", // not a well-formed root file
  "OTA_ROOT_SIGNATURE", // a root is not signed by enough of the keys that must sign it
  "OTA_ROOT_VERSION", // a root that skips a version (or goes back)
  "OTA_ROOT_EXPIRED", // the newest root has expired
  // Manifest, in the order verifyManifest checks them
  "OTA_MANIFEST_INVALID",
  "OTA_SIGNATURE",
  "OTA_PLATFORM",
  "OTA_GROUP",
  "OTA_PRODUCT",
  "OTA_EXPIRED",
  "OTA_NOT_NEWER", // not strictly newer than the installed version
  "OTA_ROLLBACK", // not strictly newer than the highest version ever committed on this device
  "OTA_MIN_VERSION",
  // Payload
  "OTA_SIZE",
  "OTA_SHA256",
  // Archive contents
  "OTA_ARCHIVE_CORRUPT",
  "OTA_ARCHIVE_PATH",
  "OTA_ARCHIVE_LINK",
  "OTA_ARCHIVE_TYPE",
  "OTA_ARCHIVE_LIMIT",
  "OTA_TARGET_EXISTS",
  // Keys, local state and packing
  "OTA_KEY_INVALID",
  "OTA_NOT_FOUND", // a file named on the command line or by convention is missing
  "OTA_EXISTS",
  "OTA_FLOOR_CORRUPT",
  "OTA_PACK",
  // Download, install, switch (install/supervisor)
  "OTA_DOWNLOAD", // the server answered with an error, or the connection failed after every retry
  "OTA_STALLED", // the download stalled or trickled below the minimum rate (slow-retrieval attack)
  "OTA_DISK", // writing the download or the release failed (disk full, I/O error)
  "OTA_OFFER_INVALID", // an offer message that does not match the offer schema
  "OTA_BUSY", // another update is running; this offer is refused
  "OTA_STATE_CORRUPT", // the persisted update state cannot be read
  "OTA_STATE_LOOP", // one state was entered too many times (a crash loop around one step)
  "OTA_CRASHED", // the new version exited during its health window
  "OTA_UNHEALTHY", // the new version did not prove healthy within its health window
  "OTA_NO_PREVIOUS", // nothing to roll back to
  "OTA_ROLLBACK_INTERRUPTED", // current no longer points at the release under test: a rollback was cut short
] as const;

export type OtaErrorCode = (typeof OTA_CODES)[number];

export class OtaError extends EdgeError {
  declare readonly code: OtaErrorCode;

  constructor(code: OtaErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = "OtaError";
  }
}

export function isOtaError(err: unknown, code?: OtaErrorCode): err is OtaError {
  return err instanceof OtaError && (code === undefined || err.code === code);
}
