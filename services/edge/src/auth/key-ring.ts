import { createPublicKey, webcrypto, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { ConfigError, errorText, type Logger } from '@events-proxy/runtime';

/** The signature algorithms a token may use (DESIGN.md §3c); everything else is refused. */
export const TOKEN_ALGORITHMS = ['HS256', 'RS256', 'ES256'] as const;
export type TokenAlgorithm = (typeof TOKEN_ALGORITHMS)[number];

/** A public key of the JWKS file, ready to verify with. */
export interface PublicKey {
  readonly kid: string | undefined;
  readonly alg: 'RS256' | 'ES256';
  readonly key: KeyObject;
}

export interface KeyRingOptions {
  /** AUTH_JWT_SECRET: the HS256 key. */
  readonly secret?: string | undefined;
  /** AUTH_JWT_PUBLIC_KEYS_FILE. */
  readonly publicKeysFile?: string | undefined;
  /** How often the file is checked for changes; 0 reads it once. */
  readonly reloadMs: number;
  readonly logger: Logger;
}

/** RS256 with a shorter modulus is refused by RFC 7518 §3.3 (and by jose). */
const MIN_RSA_BITS = 2048;

/**
 * The keys tokens are checked with: the HS256 secret, and the RS256/ES256 public keys of a JWKS
 * file, which is re-read when it changes (a rotated Kubernetes Secret) so a new key is used without
 * a restart. A file that fails to load at start stops the process; one that fails later keeps the
 * keys loaded before, with a warning.
 */
export class KeyRing {
  /**
   * The HS256 key, imported into WebCrypto once: jose would import a secret KeyObject again on every
   * verification (public KeyObjects it caches itself), which doubled HS256's cost per connect.
   */
  readonly secret: Promise<webcrypto.CryptoKey> | undefined;
  private publicKeys: readonly PublicKey[] = [];
  private loadedVersion = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: KeyRingOptions) {
    this.secret =
      opts.secret === undefined
        ? undefined
        : webcrypto.subtle.importKey(
            'raw',
            Buffer.from(opts.secret, 'utf8'),
            { name: 'HMAC', hash: 'SHA-256' },
            false,
            ['verify'],
          );
    const file = opts.publicKeysFile;
    if (file === undefined) return;
    try {
      this.load(file);
    } catch (err) {
      throw new ConfigError([`AUTH_JWT_PUBLIC_KEYS_FILE=${JSON.stringify(file)}: ${errorText(err)}`]);
    }
    if (opts.reloadMs > 0) {
      this.timer = setInterval(() => this.reload(file), opts.reloadMs);
      this.timer.unref();
    }
  }

  /** The keys a token signed with `alg` (and naming `kid`, when it does) may verify against. */
  candidates(alg: 'RS256' | 'ES256', kid: string | undefined): PublicKey[] {
    return this.publicKeys.filter((k) => k.alg === alg && (kid === undefined || k.kid === kid));
  }

  /** The algorithms some configured key can verify. */
  get algorithms(): TokenAlgorithm[] {
    return TOKEN_ALGORITHMS.filter((a) =>
      a === 'HS256' ? this.secret !== undefined : this.publicKeys.some((k) => k.alg === a),
    );
  }

  get publicKeyCount(): number {
    return this.publicKeys.length;
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private reload(file: string): void {
    try {
      if (this.versionOf(file) === this.loadedVersion) return;
      const before = this.publicKeys.length;
      this.load(file);
      this.opts.logger.info('public keys reloaded', { file, keys: this.publicKeys.length, before });
    } catch (err) {
      this.opts.logger.warn('could not reload the public keys file; keeping the keys loaded before', {
        file,
        error: errorText(err),
      });
    }
  }

  /** Size and modification time: a Kubernetes Secret update swaps a symlink, which changes both. */
  private versionOf(file: string): string {
    const st = statSync(file);
    return `${st.size}:${st.mtimeMs}:${st.ino}`;
  }

  private load(file: string): void {
    let version: string;
    let parsed: unknown;
    try {
      version = this.versionOf(file);
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new Error(`not a readable JSON file: ${errorText(err)}`, { cause: err });
    }
    const keys = (parsed as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys)) throw new Error('expected a JWKS document: {"keys": [ … ]}');
    const loaded: PublicKey[] = [];
    const skipped: string[] = [];
    keys.forEach((jwk: unknown, i) => {
      const key = publicKeyOf(jwk, i);
      if (typeof key === 'string') skipped.push(key);
      else loaded.push(key);
    });
    if (loaded.length === 0) {
      throw new Error(
        `no usable RS256 or ES256 public key${skipped.length ? `: ${skipped.join('; ')}` : ''}`,
      );
    }
    for (const reason of skipped) this.opts.logger.warn('public key skipped', { file, reason });
    this.publicKeys = loaded;
    this.loadedVersion = version;
  }
}

/** A JWK made a verification key, or why it is not one (then it is skipped). Throws when it must not be there. */
function publicKeyOf(jwk: unknown, index: number): PublicKey | string {
  const where = `key ${index}`;
  if (typeof jwk !== 'object' || jwk === null) throw new Error(`${where} is not a JSON object`);
  const k = jwk as JsonWebKey & { kid?: unknown; alg?: unknown; use?: unknown };
  const kid = typeof k.kid === 'string' ? k.kid : undefined;
  const named = kid === undefined ? where : `${where} (kid ${JSON.stringify(kid)})`;
  if (k.kty === 'oct') {
    throw new Error(
      `${named} is a shared secret: public keys only here; give an HS256 secret as AUTH_JWT_SECRET`,
    );
  }
  if ('d' in k) {
    throw new Error(`${named} holds a private key: publish only the public half (without "d")`);
  }
  if (k.use !== undefined && k.use !== 'sig') return `${named} is for use ${JSON.stringify(k.use)}, not sig`;
  const alg = k.kty === 'RSA' ? 'RS256' : k.kty === 'EC' ? 'ES256' : undefined;
  if (alg === undefined)
    return `${named} has kty ${JSON.stringify(k.kty)}: only RSA (RS256) and EC (ES256) are accepted`;
  if (k.alg !== undefined && k.alg !== alg) {
    return `${named} is for ${JSON.stringify(k.alg)}: only ${alg} is accepted for kty ${k.kty}`;
  }
  if (alg === 'ES256' && k.crv !== 'P-256')
    return `${named} is on curve ${JSON.stringify(k.crv)}: ES256 needs P-256`;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: k, format: 'jwk' });
  } catch (err) {
    throw new Error(`${named} is not a valid ${k.kty} public key: ${errorText(err)}`, { cause: err });
  }
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (alg === 'RS256' && (bits ?? 0) < MIN_RSA_BITS) {
    return `${named} is a ${bits}-bit RSA key: RS256 needs at least ${MIN_RSA_BITS} bits`;
  }
  return { kid, alg, key };
}
