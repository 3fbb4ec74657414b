import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

export type Db = Database.Database;

/** How long a statement waits for another process's lock (SQLite's busy timeout, and whileBusy's). */
const BUSY_TIMEOUT_MS = 5_000;

/** The schema this build writes; a file with a higher `user_version` was written by a newer berth. */
const SCHEMA_VERSION = 1;

// WITHOUT ROWID: every table is looked up by its primary key, which then is the table itself (one b-tree).
const SCHEMA = `
CREATE TABLE seq (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO seq (name, value) VALUES ('version', 0);
CREATE TABLE uploads (
  id TEXT PRIMARY KEY, repo TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL, hash_state BLOB,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX uploads_by_updated ON uploads (updated_at, id);
CREATE TABLE leases (name TEXT PRIMARY KEY, holder TEXT, token INTEGER NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE dedupe (digest TEXT NOT NULL, location TEXT NOT NULL, added INTEGER NOT NULL, PRIMARY KEY (digest, location)) WITHOUT ROWID;
CREATE TABLE access_times (kind TEXT NOT NULL, subject TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (kind, subject)) WITHOUT ROWID;
CREATE TABLE api_keys (uuid TEXT PRIMARY KEY, user TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, added INTEGER NOT NULL, record TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX api_keys_by_user ON api_keys (user, added);
CREATE TABLE catalog (repo TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE signing_keys (name TEXT PRIMARY KEY, key BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE kv (ns TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (ns, key)) WITHOUT ROWID;
`;

/**
 * Opens (creating when missing) the database file, shared by every berth process on this root directory:
 * - WAL: readers never block the writer nor it them, and two processes (a rolling update) use one file.
 *   WAL needs shared memory between the processes, so the file must be on a local filesystem (not NFS).
 * - busy_timeout: a writer waits for another process's write transaction (each lasts well under a
 *   millisecond) instead of failing at once; 5 s only bounds a stuck peer.
 * - synchronous=FULL: each commit syncs the WAL, so a resolved write (an acknowledged upload offset, a
 *   fencing token) survives a power loss, not only a crash; NORMAL could hand out a fencing token twice.
 */
export function openDatabase(file: string): Db {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  // SQLite gives its -wal and -shm files the database file's mode: create it 0600 as Zot's files are.
  closeSync(openSync(file, 'a', 0o600));
  const db = new Database(file);
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    whileBusy(() => {
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new Error(`cannot use write-ahead logging (journal_mode is ${String(mode)})`);
    });
    db.pragma('synchronous = FULL');
    whileBusy(() => migrate(db));
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/**
 * Runs `step` again while SQLite answers SQLITE_BUSY, for up to the busy timeout. SQLite skips the busy handler
 * where waiting could deadlock, which can happen while processes started together switch a new file to WAL and
 * create its schema (seen once in CI: two replicas started together, one failed with "database is locked").
 */
function whileBusy(step: () => void): void {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      return step();
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > deadline) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10 + Math.floor(Math.random() * 40));
    }
  }
}

/** Creates the schema once; IMMEDIATE so two processes starting together cannot both create it. */
function migrate(db: Db): void {
  writeTx(db, () => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) throw new Error(`written by a newer berth (schema ${version}, this one knows ${SCHEMA_VERSION})`);
    if (version === SCHEMA_VERSION) return;
    db.exec(SCHEMA);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}

/**
 * Wraps `fn` in a write transaction begun IMMEDIATE: it takes the write lock before reading, so a
 * read-then-write never fails halfway with SQLITE_BUSY_SNAPSHOT when another process wrote meanwhile.
 */
export function writeTx<A extends unknown[], R>(db: Db, fn: (...args: A) => R): (...args: A) => R {
  const tx = db.transaction(fn);
  return (...args: A) => tx.immediate(...args);
}

/** A version no record of this file ever had (one counter for the whole file); call inside a write transaction. */
export function versions(db: Db): () => number {
  const next = db.prepare<[], number>("UPDATE seq SET value = value + 1 WHERE name = 'version' RETURNING value").pluck();
  return () => next.get()!;
}

/** better-sqlite3 binds Buffers, not plain Uint8Arrays. */
export function blob(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
