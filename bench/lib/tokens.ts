/**
 * Keys and JSON Web Tokens for the benchmarks of access control (DESIGN.md §3c), made with `jose`:
 * an HS256 secret, RS256 and ES256 key pairs with their JWKS file, and tokens signed ahead of time,
 * one per client (a distinct `sub` each, so no two signatures are alike).
 */
import {
  createPublicKey,
  createSecretKey,
  randomBytes,
  webcrypto,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import fs from 'node:fs';
import {
  SignJWT,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  type CryptoKey,
  type JWK,
} from 'jose';

export type TokenAlg = 'HS256' | 'RS256' | 'ES256';

/** What signs tokens of one algorithm, and what the edge verifies them with. */
export interface TokenSigner {
  readonly alg: TokenAlg;
  readonly kid: string | undefined;
  readonly signingKey: CryptoKey | Uint8Array;
  /** The key as the edge holds it (a KeyObject: createSecretKey / createPublicKey from the JWK). */
  readonly verifyKey: KeyObject;
  /** RS256/ES256: the public JWK as the JWKS file lists it (kid, use, alg). */
  readonly publicJwk?: JWK;
}

/** A random HS256 secret of 48 bytes, base64 (what `openssl rand -base64 48` gives). */
export function newSecret(): string {
  return randomBytes(48).toString('base64');
}

export function hsSigner(secret: string): TokenSigner {
  const bytes = Buffer.from(secret, 'utf8');
  return { alg: 'HS256', kid: undefined, signingKey: bytes, verifyKey: createSecretKey(bytes) };
}

export async function keyPairSigner(alg: 'RS256' | 'ES256', kid: string): Promise<TokenSigner> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, use: 'sig', alg };
  return {
    alg,
    kid,
    signingKey: privateKey,
    verifyKey: createPublicKey({ key: publicJwk as JsonWebKey, format: 'jwk' }),
    publicJwk,
  };
}

/** Writes `{"keys":[…]}` of the signers' public JWKs to `file`. */
export function writeJwks(file: string, signers: readonly TokenSigner[]): string {
  const keys = signers.flatMap((s) => (s.publicJwk ? [s.publicJwk] : []));
  fs.writeFileSync(file, JSON.stringify({ keys }));
  return file;
}

/**
 * `count` tokens granting `exchanges`, `sub` `<subjectPrefix><i>`, expiring in `expiresInSeconds`;
 * header `{alg}` (and the signer's `kid`), no iss/aud.
 */
export async function signTokens(
  signer: TokenSigner,
  exchanges: readonly string[],
  count: number,
  subjectPrefix = 'client-',
  expiresInSeconds = 3600,
): Promise<string[]> {
  const exp = Math.floor(Date.now() / 1000) + expiresInSeconds;
  const header = signer.kid === undefined ? { alg: signer.alg } : { alg: signer.alg, kid: signer.kid };
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    out.push(
      await new SignJWT({ exchanges: [...exchanges] })
        .setProtectedHeader(header)
        .setSubject(`${subjectPrefix}${i}`)
        .setExpirationTime(exp)
        .sign(signer.signingKey),
    );
  }
  return out;
}

export interface VerifyCost {
  readonly tokens: number;
  /** Process CPU (every thread: WebCrypto runs on the libuv pool) per token, one at a time. */
  readonly cpuUsSequential: number;
  readonly wallUsSequential: number;
  /** The same with `concurrency` verifications in flight, as an edge in a burst has them. */
  readonly cpuUsConcurrent: number;
  readonly wallUsConcurrent: number;
  readonly concurrency: number;
  /** One at a time again, with a CryptoKey imported once instead of the edge's KeyObject. */
  readonly cpuUsCryptoKey: number;
}

/**
 * What verifying the tokens costs in this process, called as the edge's TokenVerifier calls jose
 * (decodeProtectedHeader, then jwtVerify with the KeyObject, one algorithm, the current date):
 * verification alone, without HTTP, bindings or the rest of a connect.
 */
export async function measureVerifyCost(
  signer: TokenSigner,
  tokens: readonly string[],
  concurrency = 200,
): Promise<VerifyCost> {
  const options = { algorithms: [signer.alg], clockTolerance: 30 };
  const verifyWith = async (key: KeyObject | CryptoKey | Uint8Array, token: string) => {
    decodeProtectedHeader(token);
    await jwtVerify(token, key, { ...options, currentDate: new Date() });
  };
  const timed = async (run: () => Promise<void>) => {
    const cpu = process.cpuUsage();
    const started = performance.now();
    await run();
    const used = process.cpuUsage(cpu);
    return {
      cpuUs: (used.user + used.system) / tokens.length,
      wallUs: ((performance.now() - started) * 1000) / tokens.length,
    };
  };
  const sequential = (key: KeyObject | CryptoKey | Uint8Array) => async () => {
    for (const t of tokens) await verifyWith(key, t);
  };
  // Warm up jose's code paths and its per-key cache first.
  for (const t of tokens.slice(0, Math.min(100, tokens.length))) await verifyWith(signer.verifyKey, t);
  const seq = await timed(sequential(signer.verifyKey));
  const conc = await timed(async () => {
    let next = 0;
    const worker = async () => {
      while (next < tokens.length) await verifyWith(signer.verifyKey, tokens[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, tokens.length) }, worker));
  });
  // For HS256 jose takes the KeyObject's bytes and imports them into WebCrypto on every call; a
  // CryptoKey made once skips that.
  const cryptoKey =
    signer.alg === 'HS256'
      ? await webcrypto.subtle.importKey(
          'raw',
          signer.verifyKey.export(),
          { name: 'HMAC', hash: 'SHA-256' },
          false,
          ['verify'],
        )
      : ((await importJWK(signer.publicJwk!, signer.alg)) as CryptoKey);
  await sequential(cryptoKey)();
  const withCryptoKey = await timed(sequential(cryptoKey));
  const r = (v: number) => Math.round(v * 10) / 10;
  return {
    tokens: tokens.length,
    cpuUsSequential: r(seq.cpuUs),
    wallUsSequential: r(seq.wallUs),
    cpuUsConcurrent: r(conc.cpuUs),
    wallUsConcurrent: r(conc.wallUs),
    concurrency: Math.min(concurrency, tokens.length),
    cpuUsCryptoKey: r(withCryptoKey.cpuUs),
  };
}
