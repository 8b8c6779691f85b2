/** Keys and JSON Web Tokens for the access-control tests (DESIGN.md §3c), made with `jose`. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export const ISSUER = 'https://issuer.test';
export const AUDIENCE = 'events-proxy-test';

export interface SigningKey {
  readonly alg: 'RS256' | 'ES256';
  readonly kid: string;
  readonly privateKey: CryptoKey;
  /** The public JWK as a JWKS file lists it (with kid, use and alg). */
  readonly publicJwk: JWK;
}

export async function signingKey(alg: 'RS256' | 'ES256', kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, use: 'sig', alg };
  return { alg, kid, privateKey, publicJwk };
}

/** A random HS256 secret of 48 bytes, base64 (what `openssl rand -base64 48` gives). */
export const newSecret = (): string => randomBytes(48).toString('base64');

/** Writes a JWKS file in a new temporary directory; returns its path. */
export function writeJwks(
  keys: readonly JWK[],
  file = path.join(mkdtempSync(path.join(tmpdir(), 'jwks-')), 'jwks.json'),
): string {
  // Written beside and renamed, as a Kubernetes Secret update swaps the file at once.
  const tmp = `${file}.${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, JSON.stringify({ keys }));
  renameSync(tmp, file);
  return file;
}

export interface TokenOptions {
  /** Seconds from now; undefined: one hour; null: no `exp`. */
  readonly expiresIn?: number | null;
  readonly notBefore?: number;
  readonly issuer?: string | null;
  readonly audience?: string | null;
  readonly subject?: string;
  /** Leave the `kid` out of the header. */
  readonly noKid?: boolean;
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

function builder(claims: JWTPayload, opts: TokenOptions): SignJWT {
  const jwt = new SignJWT(claims).setIssuedAt();
  if (opts.expiresIn !== null) jwt.setExpirationTime(nowSeconds() + (opts.expiresIn ?? 3600));
  if (opts.notBefore !== undefined) jwt.setNotBefore(nowSeconds() + opts.notBefore);
  if (opts.issuer !== null) jwt.setIssuer(opts.issuer ?? ISSUER);
  if (opts.audience !== null) jwt.setAudience(opts.audience ?? AUDIENCE);
  if (opts.subject !== undefined) jwt.setSubject(opts.subject);
  return jwt;
}

/** A token granting `exchanges`, signed with an HS256 secret. */
export function hsToken(secret: string, exchanges: unknown, opts: TokenOptions = {}): Promise<string> {
  return builder({ exchanges } as JWTPayload, opts)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .sign(Buffer.from(secret, 'utf8'));
}

/** A token granting `exchanges`, signed with a JWKS key (its kid in the header unless `noKid`). */
export function keyToken(key: SigningKey, exchanges: unknown, opts: TokenOptions = {}): Promise<string> {
  return builder({ exchanges } as JWTPayload, opts)
    .setProtectedHeader({ alg: key.alg, typ: 'JWT', ...(opts.noKid ? {} : { kid: key.kid }) })
    .sign(key.privateKey);
}

/** An unsigned token (`alg: none`), which every server must refuse. */
export function unsignedToken(exchanges: unknown): string {
  const part = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ exchanges, iss: ISSUER, aud: AUDIENCE, exp: nowSeconds() + 3600 })}.`;
}
