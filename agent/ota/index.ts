/**
 * OTA: the trust layer (formats, checks) and the install side (download, state machine, layout,
 * updater). See README.md in this folder.
 */
export { canonicalBytes, canonicalJson, parseCanonical } from "./canonical-json.js";
export { OtaError, isOtaError, OTA_CODES, type OtaErrorCode } from "./errors.js";
export { compareSemver, isSemver, parseSemver, type SemVer } from "./semver.js";
export { writeFileAtomic, createFileExclusive } from "./atomic-file.js";
export {
  generateKey,
  keyIdOf,
  publicPart,
  sign,
  verifySignature,
  readPrivateKeyFile,
  readPublicKeyFile,
  encodePrivateKeyFile,
  encodePublicKeyFile,
  type PrivateKey,
  type PublicKey,
  type Signature,
} from "./keys.js";
export { checkThreshold, distinctKeyCount, type Role, type ThresholdResult } from "./threshold.js";
export { createRoot, signRoot, parseRoot, readRootFile, encodeRootFile, checkRootStep, walkRootChain, roleOf, type RootMetadata, type SignedRoot, type NewRootOptions, type RootChainResult } from "./root.js";
export {
  KINDS,
  PLATFORMS,
  encodeManifest,
  decodeManifest,
  addSignature,
  parseSignatureFile,
  encodeSignatureFile,
  readSignatures,
  releaseFiles,
  type Manifest,
  type Platform,
  type ReleaseKind,
  type ReleaseFiles,
} from "./manifest.js";
export { verifyManifest, verifyPayload, currentPlatform, type DeviceFacts, type FloorLookup, type VerifyManifestInput, type VerifiedManifest, type PayloadCheck } from "./verify.js";
export { VersionFloor } from "./version-floor.js";
export { unpackArchive, scanArchive, DEFAULT_UNPACK_LIMITS, type UnpackLimits, type UnpackOptions, type UnpackResult } from "./unpack.js";
export { packRelease, type PackOptions, type PackProgress, type PackResult } from "./pack.js";
export { otaOfferSchema, otaStatusSchema, OTA_STATES, offerTopics, statusTopic, type OtaOffer, type OtaStatus, type OtaStatusState } from "./messages.js";
export { download, DEFAULT_DOWNLOAD_TUNING, type DownloadOptions, type DownloadResult, type DownloadTuning, type DownloadFile } from "./download.js";
export { StateStore, UPDATE_STATES, MAX_STATE_ENTRIES, type UpdateRecord, type UpdateState } from "./state.js";
export { InstallLayout, installRelease, switchTo, switchBack, pruneReleases, replaceSymlink } from "./installer.js";
export { StatusQueue } from "./status-queue.js";
export { Updater, type UpdaterOptions, type UpdaterStatus, type OtaTransport, type OtaLogger } from "./updater.js";
export { otaStatusReport, type OtaStatusReport } from "./status-report.js";
