/** Aliases stay below 2^52 so that hosts holding them in a JS number or a double read them exactly. */
const ALIAS_BITS = 52n;
const ALIAS_SPACE = 1n << ALIAS_BITS;

/**
 * Assigns each key a Sparkplug metric alias (uint64, unique across the edge node and its devices).
 * An alias is a hash of the key (FNV-1a 64, cut to 52 bits), so it stays the same across restarts
 * and when other points are added, removed or reordered; the rare collision is settled by taking the
 * next free value, in sorted key order, so the result depends only on the set of keys. 0 is never
 * used: some hosts read it as "no alias".
 */
export function assignAliases(keys: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  const taken = new Set<bigint>();
  for (const key of [...new Set(keys)].sort()) {
    let alias = fnv1a64(key) % ALIAS_SPACE;
    while (alias === 0n || taken.has(alias)) alias = (alias + 1n) % ALIAS_SPACE;
    taken.add(alias);
    out.set(key, Number(alias));
  }
  return out;
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;

function fnv1a64(key: string): bigint {
  let h = FNV_OFFSET;
  for (const byte of Buffer.from(key, "utf8")) {
    h ^= BigInt(byte);
    h = BigInt.asUintN(64, h * FNV_PRIME);
  }
  return h;
}
