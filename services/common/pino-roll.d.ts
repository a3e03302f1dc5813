// pino-roll 4 ships no types; what services/common/rolling-log-file.ts uses of it.
declare module "pino-roll" {
  import type { SonicBoom, SonicBoomOpts } from "sonic-boom";

  export interface PinoRollOptions extends SonicBoomOpts {
    /** Path without the date and number pino-roll adds; its extension goes last. */
    readonly file: string;
    /** "daily" starts a file at local midnight; a number of milliseconds, every that often. */
    readonly frequency?: "daily" | "hourly" | number;
    /** date-fns format of the date in the file name. */
    readonly dateFormat?: string;
    /** At each roll, keeps the newest `count` files; with removeOtherLogFiles, counting every matching file in the directory. */
    readonly limit?: { readonly count: number; readonly removeOtherLogFiles?: boolean };
  }

  /** The SonicBoom stream pino-roll writes through; it emits `cleanup-complete` after removing old files. */
  export interface RollingStream extends SonicBoom {
    /** The file written now. */
    readonly file: string;
    readonly destroyed: boolean;
  }

  export default function pinoRoll(options: PinoRollOptions): Promise<RollingStream>;
}
