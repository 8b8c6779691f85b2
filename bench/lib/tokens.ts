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
  /** The key as a KeyObject (createSecretKey / createPublicKey from the JWK); see VerifyCost for the edge's. */
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

export interface VerifyPass {
  /** Process CPU per token, every thread (WebCrypto runs its jobs on the libuv pool). */
  readonly cpuUs: number;
  /** CPU per token of the main thread alone: what a verification takes from the event loop. */
  readonly mainThreadUs: number;
  readonly wallUs: number;
}

export interface VerifyCost {
  readonly tokens: number;
  /** HS256: the edge verifies with a CryptoKey made once (the cryptoKey passes), not the KeyObject. */
  readonly hs256: boolean;
  /** Verifications in flight in the concurrent passes (as an edge has them in a burst). */
  readonly concurrency: number;
  /** With a KeyObject, one at a time and `concurrency` at a time. */
  readonly sequential: VerifyPass;
  readonly concurrent: VerifyPass;
  /** The same with a CryptoKey made once (for HS256, jose otherwise imports the secret on every call). */
  readonly cryptoKeySequential: VerifyPass;
  readonly cryptoKeyConcurrent: VerifyPass;
}

/** CPU nanoseconds this process's main thread has run (its tid is the pid). */
function mainThreadNs(): number {
  try {
    return Number(fs.readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'latin1').split(' ', 1)[0]);
  } catch {
    return NaN;
  }
}

type VerifyKey = KeyObject | CryptoKey | webcrypto.CryptoKey;

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
  const verifyWith = async (key: VerifyKey, token: string) => {
    decodeProtectedHeader(token);
    await jwtVerify(token, key as KeyObject, {
      algorithms: [signer.alg],
      clockTolerance: 30,
      currentDate: new Date(),
    });
  };
  const pass = async (key: VerifyKey, inFlight: number): Promise<VerifyPass> => {
    const cpu = process.cpuUsage();
    const main = mainThreadNs();
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < tokens.length) await verifyWith(key, tokens[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(inFlight, tokens.length) }, worker));
    const wallMs = performance.now() - started;
    const used = process.cpuUsage(cpu);
    const r = (v: number) => Math.round((v / tokens.length) * 10) / 10;
    return {
      cpuUs: r(used.user + used.system),
      mainThreadUs: r((mainThreadNs() - main) / 1000),
      wallUs: r(wallMs * 1000),
    };
  };
  // For HS256 jose takes the KeyObject's bytes and imports them into WebCrypto on every call; a
  // CryptoKey made once skips that.
  const cryptoKey: VerifyKey =
    signer.alg === 'HS256'
      ? await webcrypto.subtle.importKey(
          'raw',
          signer.verifyKey.export(),
          { name: 'HMAC', hash: 'SHA-256' },
          false,
          ['verify'],
        )
      : ((await importJWK(signer.publicJwk!, signer.alg)) as CryptoKey);
  // Warm up jose's code paths and its per-key cache first.
  const warm = tokens.slice(0, Math.min(100, tokens.length));
  for (const t of warm) await verifyWith(signer.verifyKey, t);
  for (const t of warm) await verifyWith(cryptoKey, t);
  const inFlight = Math.min(concurrency, tokens.length);
  return {
    tokens: tokens.length,
    hs256: signer.alg === 'HS256',
    concurrency: inFlight,
    sequential: await pass(signer.verifyKey, 1),
    concurrent: await pass(signer.verifyKey, inFlight),
    cryptoKeySequential: await pass(cryptoKey, 1),
    cryptoKeyConcurrent: await pass(cryptoKey, inFlight),
  };
}
