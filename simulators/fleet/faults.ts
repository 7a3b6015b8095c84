/**
 * Download faults, switched on through the HTTP API to test how a downloader copes. Offsets are file
 * offsets, so a resumed (Range) download meets the same fault at the same byte.
 *
 *   cutAfter N            the connection is dropped once byte N of the file would be sent
 *                         (headers promised more: the client sees a short body)
 *   stallAfter N          the body stops at byte N and the connection stays open, silent
 *   trickleBytesPerSec R  the body is sent at about R bytes per second
 *   extraBytes N          N more bytes than the file (and Content-Length counts them): an oversized download
 *   times K               the fault applies to the next K requests of that file, then clears (default: all)
 */
import { z } from "zod";

export const downloadFaultSchema = z
  .strictObject({
    /** A served file name (NAME.tar.gz ...); default: every file. */
    file: z.string().min(1).optional(),
    cutAfter: z.number().int().min(0).optional(),
    stallAfter: z.number().int().min(0).optional(),
    trickleBytesPerSec: z.number().int().min(1).optional(),
    extraBytes: z.number().int().min(1).max(64 * 1024 * 1024).optional(),
    times: z.number().int().min(1).optional(),
  })
  .refine((f) => f.cutAfter !== undefined || f.stallAfter !== undefined || f.trickleBytesPerSec !== undefined || f.extraBytes !== undefined, "a fault needs cutAfter, stallAfter, trickleBytesPerSec or extraBytes");

export type DownloadFault = z.infer<typeof downloadFaultSchema>;
export const downloadFaultsSchema = z.array(downloadFaultSchema).max(100);

export interface ActiveFault extends DownloadFault {
  /** Requests served with this fault so far. */
  hits: number;
}

export class DownloadFaults {
  private faults: ActiveFault[] = [];

  list(): ActiveFault[] {
    return this.faults.map((f) => ({ ...f }));
  }

  /** Replaces every fault (validated by the caller with downloadFaultsSchema). */
  set(faults: DownloadFault[]): void {
    this.faults = faults.map((f) => ({ ...f, hits: 0 }));
  }

  clear(): void {
    this.faults = [];
  }

  /** The fault for one request of `file` (counted as used), or undefined. */
  take(file: string): ActiveFault | undefined {
    const fault = this.faults.find((f) => f.file === undefined || f.file === file);
    if (fault === undefined) return undefined;
    fault.hits++;
    if (fault.times !== undefined && fault.hits >= fault.times) this.faults = this.faults.filter((f) => f !== fault);
    return { ...fault };
  }
}
