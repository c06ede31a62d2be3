/**
 * The errors the backup runner throws, and how any error reads inside its messages: a dump that
 * failed names its database, a verification that failed names its file.
 */

/** A dump that failed: `cannot back up database "<database>": <reason>`. */
export class BackupError extends Error {
  constructor(
    readonly database: string,
    readonly reason: string,
  ) {
    super(`cannot back up database "${database}": ${reason}`);
    this.name = "BackupError";
  }
}

/** A verification that failed; the message names the file. */
export class BackupVerificationError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(message);
    this.name = "BackupVerificationError";
  }
}
