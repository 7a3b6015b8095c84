import { afterEach, describe, expect, it } from "vitest";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import * as tar from "tar";
import { isOtaError, type OtaErrorCode } from "../../../agent/ota/errors.js";
import { packRelease } from "../../../agent/ota/pack.js";
import { scanArchive, unpackArchive, type UnpackOptions } from "../../../agent/ota/unpack.js";
import { rawTarGz, type RawEntry } from "./helpers.js";

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "ota-unpack-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Unpacks a hostile archive and returns the refusal code; asserts nothing at all was left behind. */
async function refuse(entries: RawEntry[], options: UnpackOptions = {}): Promise<OtaErrorCode> {
  const base = tmp();
  const target = join(base, "release");
  const err = await unpackArchive(Readable.from([rawTarGz(entries)]), target, { fsync: false, ...options }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isOtaError(err), String(err)).toBe(true);
  expect(existsSync(target)).toBe(false);
  expect(readdirSync(base)).toEqual([]); // no partial temp folder either
  expect(existsSync(join(base, "..", "escaped"))).toBe(false);
  return (err as { code: OtaErrorCode }).code;
}

const ok: RawEntry[] = [{ name: "bin/", type: "5" }, { name: "bin/agent.js", data: "console.log(1)\n", mode: 0o755 }];

describe("unpack refuses hostile archives and leaves nothing behind", () => {
  it("absolute path", async () => {
    expect(await refuse([...ok, { name: "/tmp/evil", data: "x" }])).toBe("OTA_ARCHIVE_PATH");
  });

  it("'..' components", async () => {
    expect(await refuse([...ok, { name: "../escaped", data: "x" }])).toBe("OTA_ARCHIVE_PATH");
    expect(await refuse([{ name: "a/../../escaped", data: "x" }])).toBe("OTA_ARCHIVE_PATH");
  });

  it("symlink pointing outside, absolute or relative", async () => {
    expect(await refuse([...ok, { name: "etc", type: "2", linkname: "/etc" }])).toBe("OTA_ARCHIVE_LINK");
    expect(await refuse([...ok, { name: "bin/up", type: "2", linkname: "../../escaped" }])).toBe("OTA_ARCHIVE_LINK");
  });

  it("writing through a symlink, and link chains that escape only on disk", async () => {
    expect(await refuse([{ name: "d", type: "2", linkname: "bin" }, { name: "bin/", type: "5" }, { name: "d/x", data: "x" }])).toBe("OTA_ARCHIVE_PATH");
    // r -> . is inside, and x -> r/.. looks like "." lexically, but on disk it is the parent folder.
    expect(await refuse([{ name: "r", type: "2", linkname: "." }, { name: "x", type: "2", linkname: "r/.." }])).toBe("OTA_ARCHIVE_LINK");
  });

  it("a second entry for the same name (file replaced by a link)", async () => {
    expect(await refuse([{ name: "a", data: "x" }, { name: "a", type: "2", linkname: "b" }])).toBe("OTA_ARCHIVE_PATH");
  });

  it("hardlink", async () => {
    expect(await refuse([...ok, { name: "h", type: "1", linkname: "bin/agent.js" }])).toBe("OTA_ARCHIVE_LINK");
  });

  it("device, fifo and unknown entry types", async () => {
    expect(await refuse([...ok, { name: "mem", type: "3" }])).toBe("OTA_ARCHIVE_TYPE");
    expect(await refuse([...ok, { name: "sda", type: "4" }])).toBe("OTA_ARCHIVE_TYPE");
    expect(await refuse([...ok, { name: "pipe", type: "6" }])).toBe("OTA_ARCHIVE_TYPE");
    expect(await refuse([...ok, { name: "sparse", type: "S" }])).toBe("OTA_ARCHIVE_TYPE");
  });

  it("too many entries", async () => {
    const many = Array.from({ length: 11 }, (_, i): RawEntry => ({ name: `f${i}`, data: "x" }));
    expect(await refuse(many, { limits: { maxEntries: 10 } })).toBe("OTA_ARCHIVE_LIMIT");
  });

  it("too large once expanded, refused from the header before the data is written", async () => {
    expect(await refuse([{ name: "a", data: Buffer.alloc(600) }, { name: "b", data: Buffer.alloc(600) }], { limits: { maxBytes: 1000 } })).toBe("OTA_ARCHIVE_LIMIT");
  });

  it("corrupt data: bad checksum, truncated archive", async () => {
    const good = rawTarGz([{ name: "a", data: "hello" }]);
    const base = tmp();
    const { gunzipSync, gzipSync } = await import("node:zlib");
    const raw = gunzipSync(good);
    raw[0] = "b".charCodeAt(0); // name changed, checksum not
    for (const bytes of [gzipSync(raw), gzipSync(gunzipSync(good).subarray(0, 700)), Buffer.from("not gzip at all")]) {
      const err = await unpackArchive(Readable.from([bytes]), join(base, "r"), { fsync: false }).catch((e: unknown) => e);
      expect(isOtaError(err, "OTA_ARCHIVE_CORRUPT"), String(err)).toBe(true);
      expect(readdirSync(base)).toEqual([]);
    }
  });

  it("an existing target is never touched", async () => {
    const base = tmp();
    mkdirSync(join(base, "release"));
    writeFileSync(join(base, "release", "keep"), "mine");
    const err = await unpackArchive(Readable.from([rawTarGz(ok)]), join(base, "release")).catch((e: unknown) => e);
    expect(isOtaError(err, "OTA_TARGET_EXISTS")).toBe(true);
    expect(readdirSync(join(base, "release"))).toEqual(["keep"]);
  });
});

describe("unpack of a good archive", () => {
  it("writes files, folders and inside symlinks, with setuid and write bits stripped", async () => {
    const base = tmp();
    const target = join(base, "1.2.0");
    const result = await unpackArchive(
      Readable.from([
        rawTarGz([
          { name: "./", type: "5" },
          ...ok,
          { name: "bin/suid", data: "x", mode: 0o4777 },
          { name: "lib/node_modules/.bin/tool", type: "2", linkname: "../pkg/cli.js" },
          { name: "lib/node_modules/pkg/cli.js", data: "cli" },
        ]),
      ]),
      target,
    );
    expect(result).toMatchObject({ files: 3, symlinks: 1 });
    expect(readFileSync(join(target, "bin/agent.js"), "utf8")).toBe("console.log(1)\n");
    expect(lstatSync(join(target, "bin/agent.js")).mode & 0o7777).toBe(0o755);
    expect(lstatSync(join(target, "bin/suid")).mode & 0o7777).toBe(0o755);
    expect(readlinkSync(join(target, "lib/node_modules/.bin/tool"))).toBe("../pkg/cli.js");
    expect(readFileSync(join(target, "lib/node_modules/.bin/tool"), "utf8")).toBe("cli");
    expect(readdirSync(base)).toEqual(["1.2.0"]);
  });
});

describe("pack", () => {
  function source(): string {
    const dir = join(tmp(), "src");
    mkdirSync(join(dir, "lib/deep"), { recursive: true });
    writeFileSync(join(dir, "agent.js"), "export {}\n");
    chmodSync(join(dir, "agent.js"), 0o4755);
    writeFileSync(join(dir, "lib/deep", "x".repeat(120)), "long name\n");
    symlinkSync("deep", join(dir, "lib/current"));
    mkdirSync(join(dir, "empty"));
    return dir;
  }
  const opts = { name: "edge-agent", kind: "agent" as const, version: "1.0.0", platform: "any" as const, created: new Date("2030-01-01T00:00:00Z"), expires: new Date("2031-01-01T00:00:00Z"), minVersion: null, groups: [] };

  it("packs a folder that node-tar reads back (an independent reader) and that our unpack restores", async () => {
    const dir = source();
    const out = join(tmp(), "r.tar.gz");
    const r = await packRelease({ ...opts, dir, out });
    expect(r.manifest.size).toBe(readFileSync(out).length);
    const listed: string[] = [];
    await tar.t({ file: out, onReadEntry: (e) => listed.push(`${e.type}:${e.path}`) });
    expect(listed.sort()).toEqual(["Directory:empty/", "Directory:lib/", "Directory:lib/deep/", "File:agent.js", `File:lib/deep/${"x".repeat(120)}`, "SymbolicLink:lib/current"].sort());
    const target = join(tmp(), "out");
    await unpackArchive(out, target, { fsync: false });
    expect(readFileSync(join(target, "lib/current", "x".repeat(120)), "utf8")).toBe("long name\n");
    expect(lstatSync(join(target, "agent.js")).mode & 0o7777).toBe(0o755);
  });

  it("the same folder packs to the same bytes", async () => {
    const dir = source();
    const a = await packRelease({ ...opts, dir, out: join(tmp(), "a.tar.gz") });
    const b = await packRelease({ ...opts, dir, out: join(tmp(), "b.tar.gz") });
    expect(a.manifest.sha256).toBe(b.manifest.sha256);
  });

  it("reads archives node-tar wrote (pax long names included)", async () => {
    const dir = source();
    const out = join(tmp(), "nt.tar.gz");
    await tar.c({ file: out, gzip: true, cwd: dir, portable: true }, ["agent.js", "lib", "empty"]);
    const r = await scanArchive(Readable.from([readFileSync(out)]));
    expect(r).toMatchObject({ files: 2, symlinks: 1 });
  });

  it("refuses to pack what devices would refuse, and never overwrites", async () => {
    const dir = source();
    symlinkSync("/etc/passwd", join(dir, "passwd"));
    const err = await packRelease({ ...opts, dir, out: join(tmp(), "x.tar.gz") }).catch((e: unknown) => e);
    expect(isOtaError(err, "OTA_ARCHIVE_LINK")).toBe(true);
    rmSync(join(dir, "passwd"));
    const out = join(tmp(), "y.tar.gz");
    await packRelease({ ...opts, dir, out });
    const again = await packRelease({ ...opts, dir, out }).catch((e: unknown) => e);
    expect(isOtaError(again, "OTA_EXISTS")).toBe(true);
  });
});
