import { verifySignature, type Signature } from "./keys.js";

/** A set of trusted keys and how many distinct ones must sign: one role of a root (root or release). */
export interface Role {
  /** keyid -> raw 32-byte public key. */
  keys: ReadonlyMap<string, Uint8Array>;
  threshold: number;
}

export interface ThresholdResult {
  met: boolean;
  threshold: number;
  /** keyids whose signature verified, one per distinct public key. */
  validKeyids: string[];
  /** keyids the role does not know (ignored, never counted; at most MAX_LISTED). */
  unknownKeyids: string[];
  /** keyids the role knows whose signature did not verify. */
  badKeyids: string[];
  /** Signature verifications done: at most the role's distinct key count, whatever was sent. */
  verifications: number;
}

/** Unknown keyids listed in a result (for the error message); more are counted, not kept. */
const MAX_LISTED = 16;

/**
 * Counts the distinct *public keys* of `role` that produced a valid signature over `message`.
 *
 * Counting signatures instead would let one stolen key meet a threshold of 2 by signing twice, or by
 * being listed under two keyids: a threshold is only worth anything if it means independent keys.
 *
 * Each keyid and each distinct public key is tried at most once, whatever the outcome. Retrying a key
 * whose signature failed let one forged offer (100 signatures, or a root with 1000) under a trusted
 * keyid buy one Ed25519 verification each: seconds of a blocked event loop per message, repeatable.
 * Now the work per message is bounded by the role's key count, not by what the sender lists.
 */
export function checkThreshold(message: Uint8Array, signatures: readonly Signature[], role: Role): ThresholdResult {
  const counted = new Set<string>(); // hex of public keys whose signature verified
  const tried = new Set<string>(); // hex of public keys verified once (either outcome)
  const triedKeyids = new Set<string>();
  const validKeyids: string[] = [];
  const unknownKeyids: string[] = [];
  const badKeyids: string[] = [];
  let verifications = 0;
  for (const s of signatures) {
    const publicKey = role.keys.get(s.keyid);
    if (!publicKey) {
      if (unknownKeyids.length < MAX_LISTED && !unknownKeyids.includes(s.keyid)) unknownKeyids.push(s.keyid);
      continue;
    }
    if (triedKeyids.has(s.keyid)) continue;
    triedKeyids.add(s.keyid);
    const hex = Buffer.from(publicKey).toString("hex");
    if (tried.has(hex)) continue;
    tried.add(hex);
    verifications++;
    if (verifySignature(message, s.sig, publicKey)) {
      counted.add(hex);
      validKeyids.push(s.keyid);
    } else {
      badKeyids.push(s.keyid);
    }
  }
  return { met: counted.size >= role.threshold, threshold: role.threshold, validKeyids, unknownKeyids, badKeyids, verifications };
}

/** Distinct public keys in a role: a threshold above this can never be met. */
export function distinctKeyCount(role: Role): number {
  return new Set([...role.keys.values()].map((k) => Buffer.from(k).toString("hex"))).size;
}
