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
  /** keyids the role does not know (ignored, never counted). */
  unknownKeyids: string[];
  /** keyids the role knows whose signature did not verify. */
  badKeyids: string[];
}

/**
 * Counts the distinct *public keys* of `role` that produced a valid signature over `message`.
 *
 * Counting signatures instead would let one stolen key meet a threshold of 2 by signing twice, or by
 * being listed under two keyids: a threshold is only worth anything if it means independent keys.
 */
export function checkThreshold(message: Uint8Array, signatures: readonly Signature[], role: Role): ThresholdResult {
  const counted = new Set<string>(); // hex of public keys already counted
  const validKeyids: string[] = [];
  const unknownKeyids: string[] = [];
  const badKeyids: string[] = [];
  for (const s of signatures) {
    const publicKey = role.keys.get(s.keyid);
    if (!publicKey) {
      unknownKeyids.push(s.keyid);
      continue;
    }
    const hex = Buffer.from(publicKey).toString("hex");
    if (counted.has(hex)) continue;
    if (verifySignature(message, s.sig, publicKey)) {
      counted.add(hex);
      validKeyids.push(s.keyid);
    } else {
      badKeyids.push(s.keyid);
    }
  }
  return { met: counted.size >= role.threshold, threshold: role.threshold, validKeyids, unknownKeyids, badKeyids };
}

/** Distinct public keys in a role: a threshold above this can never be met. */
export function distinctKeyCount(role: Role): number {
  return new Set([...role.keys.values()].map((k) => Buffer.from(k).toString("hex"))).size;
}
